import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodeNpy, encodeNpyParts, parseNpy } from '../../../src/contract/data/npy.js';
import type { DType, NdArray, TypedArray } from '../../../src/contract/ndarray.js';
import { assertEngineError } from '../../helpers/engine-error.js';

/** Fixtures written by real numpy: see test/fixtures/npy/generate.py. */
const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../../fixtures/npy/${name}.npy`, import.meta.url)));

/** (arange(6).reshape(2, 3) / 4 - 0.5): exact in float16, float32 and float64. */
const BASE_2X3 = [-0.5, -0.25, 0, 0.25, 0.5, 0.75];

const assertInvalidArray = (fn: () => unknown, message: RegExp) =>
  assertEngineError(fn, 'invalid_array', message);

/** Every test host is little-endian (x86, arm64); the view paths below are the little-endian ones. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `bytes` copied to offset `offset` of a fresh buffer, to place the data at a chosen alignment. */
function at(offset: number, bytes: Uint8Array): Uint8Array {
  const padded = new Uint8Array(offset + bytes.length);
  padded.set(bytes, offset);
  return padded.subarray(offset);
}

/** An array of `dtype` and `shape` holding 1, 2, 3, ... (0 and 1 alternately for bool). */
function counting(dtype: DType, shape: number[]): NdArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? i % 2 : i + 1));
  const data: TypedArray =
    dtype === 'float32'
      ? Float32Array.from(values)
      : dtype === 'float64'
        ? Float64Array.from(values)
        : dtype === 'int32'
          ? Int32Array.from(values)
          : dtype === 'int64'
            ? BigInt64Array.from(values, BigInt)
            : Uint8Array.from(values);
  return { dtype, shape, data };
}

const DTYPES: DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'];
const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

describe('parseNpy', () => {
  // Every value below is exactly representable in its dtype, so comparisons are exact (no tolerance needed).
  it('reads float32 and float64 arrays written by np.save', () => {
    const f32 = parseNpy(fixture('float32_2x3'));
    assert.equal(f32.dtype, 'float32');
    assert.deepEqual(f32.shape, [2, 3]);
    assert.ok(f32.data instanceof Float32Array);
    assert.deepEqual(Array.from(f32.data), BASE_2X3);

    const f64 = parseNpy(fixture('float64_2x3'));
    assert.equal(f64.dtype, 'float64');
    assert.ok(f64.data instanceof Float64Array);
    assert.deepEqual(Array.from(f64.data), BASE_2X3);
  });

  it('reads int32, uint8 and bool arrays with their own dtypes', () => {
    const i32 = parseNpy(fixture('int32_2x2'));
    assert.equal(i32.dtype, 'int32');
    assert.deepEqual(Array.from(i32.data as Int32Array), [1, -2, 2 ** 31 - 1, -(2 ** 31)]);

    const u8 = parseNpy(fixture('uint8_4'));
    assert.equal(u8.dtype, 'uint8');
    assert.deepEqual(Array.from(u8.data as Uint8Array), [0, 1, 128, 255]);

    const b = parseNpy(fixture('bool_2x2'));
    assert.equal(b.dtype, 'bool');
    assert.ok(b.data instanceof Uint8Array);
    assert.deepEqual(b.shape, [2, 2]);
    assert.deepEqual(Array.from(b.data), [1, 0, 0, 1]);
  });

  it('keeps int64 as BigInt64Array without losing precision', () => {
    const a = parseNpy(fixture('int64_3'));
    assert.equal(a.dtype, 'int64');
    assert.ok(a.data instanceof BigInt64Array);
    assert.deepEqual(Array.from(a.data as BigInt64Array), [2n ** 40n + 1n, -1n, 7n]);
  });

  it('converts float16 to float32 and narrow integers to int32 or int64', () => {
    const f16 = parseNpy(fixture('float16_4'));
    assert.equal(f16.dtype, 'float32');
    // 2^-24 is the smallest float16 subnormal: checks the subnormal branch exactly.
    assert.deepEqual(Array.from(f16.data as Float32Array), [0.5, -2, 65504, 2 ** -24]);

    for (const [name, values] of [
      ['int8_3', [-128, 0, 127]],
      ['int16_3', [-32768, 1, 32767]],
      ['uint16_3', [0, 1, 65535]],
    ] as const) {
      const a = parseNpy(fixture(name));
      assert.equal(a.dtype, 'int32', name);
      assert.deepEqual(Array.from(a.data as Int32Array), values, name);
    }
    const u32 = parseNpy(fixture('uint32_2'));
    assert.equal(u32.dtype, 'int64');
    assert.deepEqual(Array.from(u32.data as BigInt64Array), [0n, 2n ** 32n - 1n]);
    const u64 = parseNpy(fixture('uint64_2'));
    assert.deepEqual(Array.from(u64.data as BigInt64Array), [5n, 2n ** 63n - 1n]);
  });

  it('rejects uint64 values that do not fit in int64', () => {
    assertInvalidArray(() => parseNpy(fixture('uint64_too_big')), /does not fit in int64/);
  });

  it('byte-swaps big-endian data', () => {
    const f = parseNpy(fixture('float32_big_endian_2x3'));
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(Array.from(f.data as Float32Array), BASE_2X3);
    const i = parseNpy(fixture('int64_big_endian_3'));
    assert.deepEqual(Array.from(i.data as BigInt64Array), [2n ** 40n + 1n, -1n, 7n]);
  });

  it('reads format versions 2.0 and 3.0', () => {
    for (const name of ['float32_v2_2x3', 'float32_v3_2x3']) {
      const a = parseNpy(fixture(name));
      assert.deepEqual(a.shape, [2, 3], name);
      assert.deepEqual(Array.from(a.data as Float32Array), BASE_2X3, name);
    }
  });

  it('reads 0-d scalars and empty arrays', () => {
    const s = parseNpy(fixture('float32_scalar'));
    assert.deepEqual(s.shape, []);
    assert.deepEqual(Array.from(s.data as Float32Array), [3.5]);
    const e = parseNpy(fixture('float32_empty_0x3'));
    assert.deepEqual(e.shape, [0, 3]);
    assert.equal(e.data.length, 0);
  });

  it('reads from a Uint8Array view at an unaligned offset', () => {
    const bytes = fixture('float64_2x3');
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    const a = parseNpy(padded.subarray(3));
    assert.deepEqual(Array.from(a.data as Float64Array), BASE_2X3);
  });

  it('returns a view over the input for aligned native data, and a copy when it is misaligned', () => {
    const values = [0.5, -2, 3.25, 1024];
    const file = encodeNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array(values) });
    const aligned = at(4, file); // the data starts at 4 + 128: a multiple of 4
    const view = parseNpy(aligned);
    assert.equal(view.data.buffer, aligned.buffer, 'aligned: same underlying buffer');
    assert.equal(view.data.byteOffset, aligned.byteOffset + file.length - 16);
    assert.deepEqual(Array.from(view.data as Float32Array), values);

    const misaligned = at(2, file);
    const copy = parseNpy(misaligned);
    assert.notEqual(copy.data.buffer, misaligned.buffer, 'misaligned: a new buffer');
    assert.equal(copy.data.byteOffset, 0);
    assert.deepEqual(Array.from(copy.data as Float32Array), values);

    // The view aliases the input, as parseNpy documents: callers must leave the bytes alone.
    aligned[aligned.length - 1] = 0; // the high byte of the last float
    assert.notEqual((view.data as Float32Array)[3], 1024);
    assert.equal((copy.data as Float32Array)[3], 1024);
  });

  it('views every native dtype in place when aligned, and copies bool data that is not 0/1', () => {
    for (const dtype of DTYPES) {
      const arr = counting(dtype, [2, 3]);
      const file = encodeNpy(arr);
      const back = parseNpy(file);
      assert.equal(back.dtype, dtype);
      assert.equal(back.data.buffer === file.buffer, HOST_IS_LITTLE_ENDIAN || dtype === 'uint8', dtype);
      assert.deepEqual(
        Array.from(back.data as ArrayLike<number | bigint>),
        Array.from(arr.data as ArrayLike<number | bigint>),
      );
      if (arr.data.BYTES_PER_ELEMENT > 1) {
        const shifted = parseNpy(at(1, file));
        assert.equal(shifted.data.byteOffset, 0, `${dtype} misaligned`);
        assert.deepEqual(
          Array.from(shifted.data as ArrayLike<number | bigint>),
          Array.from(arr.data as ArrayLike<number | bigint>),
        );
      }
    }
    const file = encodeNpy({ dtype: 'bool', shape: [3], data: new Uint8Array([0, 1, 1]) });
    file[file.length - 1] = 7; // not something numpy writes, but true all the same
    const b = parseNpy(file);
    assert.notEqual(b.data.buffer, file.buffer);
    assert.deepEqual(Array.from(b.data as Uint8Array), [0, 1, 1]);
    // Data in the other byte order is converted into a new array.
    const bigEndian = fixture('float32_big_endian_2x3');
    assert.notEqual(parseNpy(bigEndian).data.buffer, bigEndian.buffer);
  });

  it('rejects Fortran-ordered arrays and says how to fix them', () => {
    assertInvalidArray(() => parseNpy(fixture('float64_fortran_2x3')), /Fortran.*np\.ascontiguousarray/);
  });

  it('rejects unsupported dtypes, naming the dtype', () => {
    assertInvalidArray(() => parseNpy(fixture('object_2')), /unsupported dtype '\|O' \(Python objects\)/);
    assertInvalidArray(() => parseNpy(fixture('unicode_2')), /unsupported dtype '<U2' \(unicode strings\)/);
    assertInvalidArray(() => parseNpy(fixture('complex64_2')), /unsupported dtype '<c8' \(complex numbers\)/);
    assertInvalidArray(() => parseNpy(fixture('structured_2')), /structured \(record\) arrays/);
  });

  it('rejects a file without the NumPy magic string', () => {
    assertInvalidArray(
      () => parseNpy(new TextEncoder().encode('[[1, 2], [3, 4]]')),
      /not a NumPy \.npy file/,
    );
    assertInvalidArray(() => parseNpy(new Uint8Array(0)), /not a NumPy \.npy file/);
  });

  it('rejects truncated data, saying how many bytes were expected', () => {
    const bytes = fixture('float32_2x3');
    assertInvalidArray(
      () => parseNpy(bytes.subarray(0, bytes.length - 1)),
      /truncated.*needs 24 bytes.*found 23/,
    );
    assertInvalidArray(() => parseNpy(bytes.subarray(0, 40)), /truncated/);
  });

  it('rejects trailing bytes after the data', () => {
    const bytes = fixture('float32_2x3');
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    assertInvalidArray(() => parseNpy(longer), /4 unexpected bytes/);
  });

  it('prefixes error messages with the name it is given', () => {
    assertInvalidArray(() => parseNpy(new Uint8Array(3), 'inputs.npy'), /^inputs\.npy: not a NumPy/);
  });
});

describe('encodeNpy', () => {
  it('writes exactly the bytes np.save writes', () => {
    const cases: [string, NdArray][] = [
      ['float32_2x3', { dtype: 'float32', shape: [2, 3], data: new Float32Array(BASE_2X3) }],
      ['float64_2x3', { dtype: 'float64', shape: [2, 3], data: new Float64Array(BASE_2X3) }],
      ['int64_3', { dtype: 'int64', shape: [3], data: new BigInt64Array([2n ** 40n + 1n, -1n, 7n]) }],
      ['uint8_4', { dtype: 'uint8', shape: [4], data: new Uint8Array([0, 1, 128, 255]) }],
      ['bool_2x2', { dtype: 'bool', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) }],
      ['float32_scalar', { dtype: 'float32', shape: [], data: new Float32Array([3.5]) }],
      ['float32_empty_0x3', { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }],
    ];
    for (const [name, arr] of cases) assert.deepEqual(encodeNpy(arr), fixture(name), name);
  });

  it('aligns the data to 64 bytes', () => {
    for (const shape of [[1], [7, 3], [2, 3, 4, 5, 6, 7, 8, 9, 10]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const bytes = encodeNpy({ dtype: 'float32', shape, data: new Float32Array(n) });
      assert.equal((bytes.length - 4 * n) % 64, 0, String(shape));
      assert.equal(bytes[bytes.length - 4 * n - 1], 0x0a, 'header ends with a newline');
    }
  });

  it('round-trips every engine dtype through parseNpy', () => {
    const arrays: NdArray[] = [
      { dtype: 'float32', shape: [2, 2], data: new Float32Array([1.5, -0, NaN, Infinity]) },
      { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -1e300, 5e-324]) },
      { dtype: 'int32', shape: [1, 2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
      { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
      { dtype: 'uint8', shape: [2, 1, 1], data: new Uint8Array([0, 255]) },
      { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) },
    ];
    for (const arr of arrays) {
      const back = parseNpy(encodeNpy(arr));
      assert.equal(back.dtype, arr.dtype);
      assert.deepEqual(back.shape, arr.shape);
      // Object.is semantics in deepEqual: NaN and -0 must survive bit-exactly.
      assert.deepEqual(
        Array.from(back.data as ArrayLike<number | bigint>),
        Array.from(arr.data as ArrayLike<number | bigint>),
      );
    }
  });

  it('encodes a typed-array view that does not start at offset 0', () => {
    const backing = new Float32Array([9, 1, 2, 3]);
    const back = parseNpy(encodeNpy({ dtype: 'float32', shape: [3], data: backing.subarray(1) }));
    assert.deepEqual(Array.from(back.data as Float32Array), [1, 2, 3]);
  });

  it('splits into a header and a view of the data that concatenate to encodeNpy, for every dtype', () => {
    for (const dtype of DTYPES) {
      for (const shape of [[], [0], [3], [2, 3, 4]]) {
        const context = `${dtype} [${shape.join(', ')}]`;
        const arr = counting(dtype, shape);
        const { header, data } = encodeNpyParts(arr);
        assert.deepEqual(concat(header, data), encodeNpy(arr), context);
        assert.equal(header.length % 64, 0, context);
        assert.equal(header[header.length - 1], 0x0a, context);
        assert.equal(data.byteLength, arr.data.byteLength, context);
        if (HOST_IS_LITTLE_ENDIAN) {
          assert.equal(data.buffer, arr.data.buffer, `${context}: a view, not a copy`);
          assert.equal(data.byteOffset, arr.data.byteOffset, context);
        }
      }
    }
    const backing = new Float64Array([9, 1, 2, 3]);
    const offset = encodeNpyParts({ dtype: 'float64', shape: [3], data: backing.subarray(1) });
    assert.equal(offset.data.byteOffset, 8);
    assert.deepEqual(Array.from(new Float64Array(offset.data.slice().buffer)), [1, 2, 3]);
  });

  it('switches to format 2.0 when the header exceeds 65535 bytes', () => {
    const shape = new Array<number>(25_000).fill(1); // '(1, 1, ...)': 75 000 characters
    const arr: NdArray = { dtype: 'float32', shape, data: new Float32Array([2.5]) };
    const { header, data } = encodeNpyParts(arr);
    assert.ok(header.length > 65_535, `${header.length} bytes`);
    assert.deepEqual([...header.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
    assert.equal(new DataView(header.buffer).getUint32(8, true), header.length - 12);
    assert.equal(header.length % 64, 0);
    assert.deepEqual(concat(header, data), encodeNpy(arr));
    const small = encodeNpyParts({ dtype: 'float32', shape: [1], data: new Float32Array(1) }).header;
    assert.deepEqual([small[6], small[7], small.length], [1, 0, 128]);
  });

  it('rejects data whose length does not match the shape', () => {
    assertInvalidArray(
      () => encodeNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array(3) }),
      /shape \[2, 2\] has 4 elements but data has 3/,
    );
    assertInvalidArray(
      () => encodeNpyParts({ dtype: 'int32', shape: [3], data: new Int32Array(2) }),
      /shape \[3\] has 3 elements but data has 2/,
    );
  });
});
