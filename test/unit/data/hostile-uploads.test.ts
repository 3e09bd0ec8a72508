/**
 * Hostile uploads (issue 7): every parser in the data layer must refuse them with a clean EngineError, in time
 * linear in the upload and memory bounded by the upload and the caller's budget, never trusting a size a header
 * claims.
 *
 * The time bounds below are complexity guards, not benchmarks: each case took seconds to minutes (or exhausted memory)
 * with the quadratic or unbounded code, and takes milliseconds now, so a generous 2 s bound separates the two on any
 * machine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants, crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { decodeArrayFile, decodeBatchFromJson } from '../../../src/contract/data/decode.js';
import { parseJsonArray } from '../../../src/contract/data/json-array.js';
import { encodeNpy, parseNpy } from '../../../src/contract/data/npy.js';
import { parseNpz } from '../../../src/contract/data/npz.js';
import { EngineError, type EngineErrorCode } from '../../../src/contract/errors.js';
import { assertEngineError } from '../../helpers/engine-error.js';
import { buildZip as writeZip } from '../../helpers/zip.js';

const LINEAR_TIME_BOUND_MS = 2000;

/** Asserts `fn` throws this EngineError, and does so within the complexity guard's bound. */
function assertRefusedFast(fn: () => unknown, code: EngineErrorCode, message: RegExp): void {
  const started = performance.now();
  assertEngineError(fn, code, message);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < LINEAR_TIME_BOUND_MS, `took ${elapsed.toFixed(0)} ms`);
}

/** A `.npy` file with this header text (padding and the final newline are the caller's). */
function npyWithHeader(header: string, data = new Uint8Array(0), major = 1): Uint8Array {
  const lengthBytes = major === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lengthBytes + header.length + data.length);
  const view = new DataView(out.buffer);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[8 + lengthBytes + i] = header.charCodeAt(i);
  out.set(data, 8 + lengthBytes + header.length);
  return out;
}

describe('parseNpy on hostile headers', () => {
  it('refuses a 1 MB header before reading it', () => {
    assertRefusedFast(
      () => parseNpy(npyWithHeader(' '.repeat(1 << 20), new Uint8Array(0), 2), 'x.npy'),
      'invalid_array',
      /^x\.npy: \.npy header is 1048576 bytes, more than the 65536 accepted/,
    );
  });

  it("refuses the probe's 640 KB header of repeated 'descr' keys", () => {
    const header = `{${"'descr': ".repeat(72_818)}`; // 655 363 bytes
    assertRefusedFast(
      () => parseNpy(npyWithHeader(header, new Uint8Array(0), 2)),
      'invalid_array',
      /header is 655363 bytes/,
    );
  });

  it('scans headers just under the limit in linear time', () => {
    // Each of these made the former regular expressions backtrack quadratically.
    const fragments = `{${"'descr': ".repeat(6000)}`;
    const openShape = `{'descr': '<f4', 'fortran_order': False, 'shape': (${' '.repeat(60_000)}`;
    const unclosedKeys = `{'descr${"'shape'".repeat(9000)}`;
    for (const header of [fragments, openShape, unclosedKeys]) {
      assertRefusedFast(() => parseNpy(npyWithHeader(header)), 'invalid_array', /malformed \.npy header/);
    }
    const padded = `{ 'descr' :${' '.repeat(30_000)}'<f4' ,\n'fortran_order':False,'shape':(1,)${' '.repeat(30_000)}}\n`;
    const started = performance.now();
    assert.deepEqual(
      Array.from(parseNpy(npyWithHeader(padded, new Uint8Array(4))).data as Float32Array),
      [0],
    );
    assert.ok(performance.now() - started < LINEAR_TIME_BOUND_MS);
  });

  it('still reads every header form numpy and older writers produce', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    for (const header of [
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
      `{"descr": "<f4", "fortran_order": False, "shape": (2, 3)}      \n`,
      `{'descr':'<f4','fortran_order':False,'shape':(2L, 3L),}\n`,
      `\t{'shape': (2, 3,), 'fortran_order': False, 'descr': '<f4', 'extra': None}\n`,
    ]) {
      const a = parseNpy(npyWithHeader(header, data));
      assert.deepEqual(a.shape, [2, 3], header);
      assert.deepEqual(Array.from(a.data as Float32Array), [1, 2, 3, 4, 5, 6], header);
    }
  });

  it('rejects malformed headers with the position of the problem', () => {
    for (const [header, message] of [
      [`{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}`, /expected ',' or '}' at character 16/],
      [`{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}`, /expected ',' or '\)' in the shape/],
      [`{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}`, /a non-negative integer in the shape/],
      [`{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x`, /the end of the header/],
      [`{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}`, /a string, True, False or a tuple/],
      [`{'descr': '<f4', 'shape': (2,)}`, /missing or invalid fortran_order/],
      [`{'descr': True, 'fortran_order': False, 'shape': (2,)}`, /missing or invalid descr/],
      [`'descr': '<f4'`, /expected '\{' at character 0/],
    ] as const) {
      assertEngineError(() => parseNpy(npyWithHeader(header)), 'invalid_array', message);
    }
  });

  it('refuses a shape of 2**60 elements cleanly, with the exact byte count', () => {
    assertRefusedFast(
      () =>
        parseNpy(
          npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 1073741824), }`),
        ),
      'invalid_array',
      /truncated: shape \[1073741824, 1073741824\] of '<f4' needs 4611686018427387904 bytes of data, found 0/,
    );
    assertRefusedFast(
      () =>
        parseNpy(
          npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976,), }`),
        ),
      'invalid_array',
      /shape dimension 1152921504606846976 is too large/,
    );
    assertRefusedFast(
      () =>
        parseNpy(
          npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (${'9'.repeat(50_000)},), }`),
        ),
      'invalid_array',
      /shape dimension 9{30} is too large/,
    );
  });

  it('refuses more than 32 axes and reads exactly 32', () => {
    const shape = (n: number) => `(${'1, '.repeat(n)})`;
    assertRefusedFast(
      () => parseNpy(npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape(33)}, }`)),
      'invalid_array',
      /more than 32 axes/,
    );
    const a = parseNpy(
      npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape(32)}, }`, new Uint8Array(4)),
    );
    assert.equal(a.shape.length, 32);
  });
});

describe('parseJsonArray and JSON decoding on hostile nesting', () => {
  const deep = (depth: number): unknown => {
    let value: unknown = 0;
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  };

  it('refuses a 100 000-deep nesting instead of overflowing the stack', () => {
    assertRefusedFast(
      () => parseJsonArray(deep(100_000), 'inputs'),
      'invalid_array',
      /^inputs is nested more than 32 levels deep; an array may have at most 32 axes$/,
    );
    const text = new TextEncoder().encode(`${'['.repeat(100_000)}0${']'.repeat(100_000)}`);
    assertRefusedFast(
      () => decodeArrayFile(text, 'deep.json'),
      'invalid_array',
      /deep\.json is nested more than 32/,
    );
    assertRefusedFast(
      () => decodeBatchFromJson({ inputs: deep(100_000), targets: [0] }),
      'invalid_array',
      /^inputs is nested more than 32/,
    );
  });

  it('reads exactly 32 axes', () => {
    assert.deepEqual(parseJsonArray(deep(32), 'x').shape, new Array(32).fill(1));
  });

  it('refuses a deep element inside a shallow array as ragged, at its exact position', () => {
    assertRefusedFast(
      () =>
        parseJsonArray(
          [
            [
              [1, 2],
              [3, deep(100_000)],
            ],
          ],
          'inputs',
        ),
      'invalid_array',
      /^inputs\[0, 1, 1\] is an array, but inputs\[0, 0, 0\] is not: the nesting is ragged$/,
    );
  });

  it('walks a million elements in linear time', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => Array.from({ length: 1000 }, (_, j) => i + j));
    const started = performance.now();
    const a = parseJsonArray(rows, 'inputs');
    assert.ok(performance.now() - started < LINEAR_TIME_BOUND_MS);
    assert.deepEqual(a.shape, [1000, 1000]);
    assert.equal(a.data[999_999], 1998);
  });
});

/** One entry of a hand-built zip: `payload` is written as is; every header field can be made to lie. */
interface RawEntry {
  name: string;
  payload: Uint8Array;
  method?: number;
  flags?: number;
  crc: number;
  uncompressedSize: number;
  /** Where the central directory says the local header is; defaults to where it is. */
  localHeaderOffset?: number;
}

/** The shared zip writer, with this file's defaults: entries are deflated unless they say otherwise. */
function buildZip(entries: RawEntry[], opts: { zip64?: boolean } = {}): Uint8Array {
  return writeZip(
    entries.map(({ uncompressedSize, ...e }) => ({ method: 8, ...e, size: uncompressedSize })),
    opts,
  );
}

/** An honest deflated entry holding `data`. */
function deflated(name: string, data: Uint8Array): RawEntry {
  return { name, payload: deflateRawSync(data), crc: crc32(data), uncompressedSize: data.length };
}

const MIB = 1 << 20;
/**
 * A raw deflate stream of `mebibytes` MiB of zeros, built without allocating them: one sync-flushed (non-final,
 * byte-aligned) block sequence for 1 MiB repeated, then an empty final block.
 */
function zerosStream(mebibytes: number): Uint8Array {
  const segment = deflateRawSync(new Uint8Array(MIB), { finishFlush: constants.Z_SYNC_FLUSH });
  const payload = new Uint8Array(segment.length * mebibytes + 2);
  for (let i = 0; i < mebibytes; i++) payload.set(segment, i * segment.length);
  payload.set([0x03, 0x00], segment.length * mebibytes);
  return payload;
}

/** The CRC-32 of `mebibytes` MiB of zeros, for the honest archives built from {@link zerosStream}. */
function zerosCrc(mebibytes: number): number {
  const zeros = new Uint8Array(MIB);
  let crc = 0;
  for (let i = 0; i < mebibytes; i++) crc = crc32(zeros, crc);
  return crc;
}

const npzFixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../fixtures/npz/${name}.npz`, import.meta.url)));

describe('parseNpz on hostile archives', () => {
  const small = encodeNpy({ dtype: 'float32', shape: [3], data: new Float32Array([1, 2, 3]) });

  it('reads hand-built archives, with and without zip64 records and extra fields', () => {
    for (const zip64 of [false, true]) {
      const stored = {
        name: 's.npy',
        payload: small,
        method: 0,
        crc: crc32(small),
        uncompressedSize: small.length,
      };
      const arrays = parseNpz(buildZip([deflated('d.npy', small), stored], { zip64 }));
      assert.deepEqual([...arrays.keys()], ['d', 's'], `zip64: ${zip64}`);
      assert.deepEqual(Array.from(arrays.get('s')!.data as Float32Array), [1, 2, 3]);
    }
  });

  it('checks that the zero-stream builder is itself a valid deflate stream', () => {
    const out = inflateRawSync(zerosStream(3));
    assert.equal(out.length, 3 * MIB);
    assert.equal(crc32(out), zerosCrc(3));
  });

  it('stops inflating at the budget when the declared sizes lie (4 GiB of zeros declared as 128 bytes)', () => {
    // The CRC does not matter: a lying archive is refused before its CRC is compared.
    const bytes = buildZip([{ name: 'x.npy', payload: zerosStream(4096), crc: 0, uncompressedSize: 128 }]);
    assert.ok(bytes.length < 8 * MIB);
    // Inflating the whole 4 GiB would take seconds and exhaust memory; the bound proves it stopped near 10 MB.
    assertRefusedFast(
      () => parseNpz(bytes, 'bomb.npz', { maxUncompressedBytes: 10_000_000 }),
      'too_large',
      /^bomb\.npz: the arrays in this archive expand to more than 10000000 bytes \(the limit\)$/,
    );
  });

  it('shares one running budget across entries', () => {
    // An honest 6 MiB array, then one that declares 100 bytes but inflates to 6 MiB: only the shared count sees
    // that together they pass the 10 MB budget.
    const honest = deflated(
      'a.npy',
      encodeNpy({ dtype: 'float32', shape: [1.5 * 2 ** 20], data: new Float32Array(1.5 * 2 ** 20) }),
    );
    const payload = zerosStream(6);
    const bytes = buildZip([honest, { name: 'b.npy', payload, crc: zerosCrc(6), uncompressedSize: 100 }]);
    assertRefusedFast(
      () => parseNpz(bytes, 'x.npz', { maxUncompressedBytes: 10_000_000 }),
      'too_large',
      /10000000 bytes/,
    );
  });

  it('refuses an honest deflate bomb (200 MiB of zeros in ~200 KB) before inflating it', () => {
    const bytes = buildZip([
      { name: 'x.npy', payload: zerosStream(200), crc: zerosCrc(200), uncompressedSize: 200 * MIB },
    ]);
    assert.ok(bytes.length < 400_000);
    assertRefusedFast(
      () => parseNpz(bytes, 'bomb.npz', { maxUncompressedBytes: 10 * MIB }),
      'too_large',
      /expand to more than 10485760 bytes/,
    );
  });

  it('refuses an entry whose CRC-32 does not match, stored or deflated', () => {
    const crc = crc32(small) ^ 1;
    for (const method of [0, 8]) {
      const payload = method === 0 ? small : deflateRawSync(small);
      const bytes = buildZip([{ name: 'x.npy', payload, method, crc, uncompressedSize: small.length }]);
      assertEngineError(
        () => parseNpz(bytes, 'b.npz'),
        'invalid_array',
        /^b\.npz: entry x\.npy is corrupt \(CRC mismatch\)$/,
      );
    }
  });

  it('refuses an entry whose size does not match its header (within the budget)', () => {
    const entry = deflated('x.npy', small);
    assertEngineError(
      () => parseNpz(buildZip([{ ...entry, uncompressedSize: entry.uncompressedSize - 1 }])),
      'invalid_array',
      /entry x\.npy is corrupt \(its header says 139 bytes, it holds 140\)/,
    );
    const stored = { name: 'x.npy', payload: small, method: 0, crc: crc32(small), uncompressedSize: 10 };
    assertEngineError(
      () => parseNpz(buildZip([stored])),
      'invalid_array',
      /is corrupt \(its header says 10 bytes/,
    );
  });

  it('refuses bad deflate data', () => {
    const entry = { ...deflated('x.npy', small), payload: new Uint8Array([0xff, 0xff, 0xff]) };
    assertEngineError(
      () => parseNpz(buildZip([entry])),
      'invalid_array',
      /entry x\.npy is corrupt \(bad deflate data/,
    );
  });

  it('refuses every truncation of a numpy archive with a clean error', () => {
    for (const fixture of ['stored_inputs_targets', 'deflated_inputs_targets']) {
      const bytes = npzFixture(fixture);
      for (let n = 0; n < bytes.length; n++) {
        assert.throws(
          () => parseNpz(bytes.subarray(0, n)),
          (e: unknown) => e instanceof EngineError && e.code === 'invalid_array',
          `${fixture} cut at ${n} bytes`,
        );
      }
    }
  });

  it('answers every corruption of a numpy archive with arrays or a clean error, never a crash', () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const fixture of ['stored_inputs_targets', 'deflated_inputs_targets']) {
      const original = npzFixture(fixture);
      for (let trial = 0; trial < 1000; trial++) {
        const bytes = original.slice();
        for (let k = 0; k < 1 + Math.floor(random() * 3); k++) {
          bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
        }
        try {
          parseNpz(bytes, 'fuzz.npz', { maxUncompressedBytes: MIB });
        } catch (e) {
          assert.ok(e instanceof EngineError, `${fixture} trial ${trial}: ${String(e)}`);
        }
      }
    }
  });

  it('refuses overlapping entries and offsets outside the archive', () => {
    const a = deflated('a.npy', small);
    assertEngineError(
      () => parseNpz(buildZip([a, { ...a, name: 'b.npy', localHeaderOffset: 0 }])),
      'invalid_array',
      /not a valid \.npz \(zip\) archive: entries a\.npy and b\.npy overlap/,
    );
    for (const localHeaderOffset of [0xfffffff0, 3]) {
      assertEngineError(
        () => parseNpz(buildZip([{ ...a, localHeaderOffset }], { zip64: localHeaderOffset > 3 })),
        'invalid_array',
        /the local header of entry a\.npy is missing or out of range/,
      );
    }
  });

  it('refuses encrypted entries and compression methods other than stored and deflate', () => {
    const entry = deflated('x.npy', small);
    assertEngineError(
      () => parseNpz(buildZip([{ ...entry, flags: 1 }])),
      'invalid_array',
      /entry x\.npy is encrypted/,
    );
    assertEngineError(
      () => parseNpz(buildZip([{ ...entry, method: 14 }])),
      'invalid_array',
      /entry x\.npy: unknown compression type 14 \(LZMA\); only stored and deflated entries/,
    );
  });

  it('bounds the number of entries and the length of their names', () => {
    const entries = Array.from({ length: 1001 }, (_, i) => deflated(`a${i}.txt`, new Uint8Array(0)));
    assertRefusedFast(
      () => parseNpz(buildZip(entries)),
      'too_large',
      /lists 1001 entries, more than the 1000 accepted/,
    );
    assertEngineError(
      () => parseNpz(buildZip([deflated(`${'a'.repeat(2000)}.npy`, small)])),
      'invalid_array',
      /entry 0 has a 2004-byte name \(at most 1024 accepted\)/,
    );
  });

  it('refuses two entries with the same name', () => {
    const entry = deflated('x.npy', small);
    assertEngineError(
      () => parseNpz(buildZip([entry, entry])),
      'invalid_array',
      /entry x\.npy appears twice/,
    );
  });
});
