/**
 * The hostile-input corpus (issue 7), shared by `test/integration/hostile-corpus.test.ts` (correctness: every case a
 * 4xx problem+json) and `bench/hostile-input.bench.ts` (the API's /healthz latency and RSS while it runs).
 *
 * Every case is a request the API must refuse with a 4xx `application/problem+json` whose `status` equals the HTTP
 * status and which has a non-empty `detail` and a `code`: never a 5xx, never a hang. Bodies are built lazily (only
 * when the case runs) and scale with the API's MAX_UPLOAD_BYTES, so "over the limit" cases stay cheap in the test
 * (small limit) and are real in the bench (default 256 MiB).
 *
 * Requests are written byte for byte on a raw socket ({@link sendCase}), never through fetch: URLs are sent
 * unnormalised (`//v1//jobs`, `%2e%2e`), headers can lie (Content-Length, Transfer-Encoding), bodies can be cut or
 * trickled, and an early response to a large upload is still read.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { constants as zlibConstants, crc32, deflateRawSync } from 'node:zlib';
import { buildZip, type ZipEntry, type ZipOptions } from '../../helpers/zip.js';

export { buildZip };

// ---------------------------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------------------------

export const GROUPS = ['npy', 'npz', 'json', 'multipart', 'model', 'jobs', 'urls', 'headers'] as const;
export type Group = (typeof GROUPS)[number];

/** A request body: raw bytes, a FormData (serialised with its boundary), or UTF-8 text. */
export type CaseBody = Buffer | Uint8Array | FormData | string;

/** How the request is put on the wire when it must not be well-formed HTTP. */
export interface Wire {
  /** Declare this Content-Length instead of the body's length (a lie); null sends no Content-Length. */
  contentLength?: number | null;
  /** Send the body with `Transfer-Encoding: chunked`, in chunks of this many bytes. */
  chunked?: number;
  /** Write only this many bytes of the (framed) body. */
  cutAt?: number;
  /** Close the sending side after writing: the server sees end-of-stream (a client that gave up). */
  halfClose?: boolean;
  /** Replace the request line, e.g. an unknown method or an absolute-form target. */
  requestLine?: string;
  /** Header lines added exactly as given (duplicates, folds, malformed values). */
  rawHeaderLines?: string[];
  /** Send no Host header. */
  noHost?: boolean;
}

export interface Expectation {
  /** The status (or one of the statuses) this case must get; any 4xx when absent. */
  status?: number | number[];
  /** The problem `code` (or one of them) this case must get; any non-empty code when absent. */
  code?: string | string[];
}

export interface HostileCase {
  /** Unique, human-readable; printed in every failure. */
  name: string;
  group: Group;
  method: string;
  /** Sent as is (not normalised, not re-encoded). */
  path: string;
  headers: Record<string, string>;
  /** Built when the case runs. */
  body?: () => CaseBody;
  /** Send the valid API key (default), none, or the given Authorization value (a `headers` entry also wins). */
  auth?: 'key' | 'none';
  wire?: Wire;
  /** The case waits on a server timeout (e.g. a body that never arrives): runners may run it alongside others. */
  slow?: boolean;
  expect: Expectation;
}

/** What the corpus needs to know about the API it runs against. */
export interface CorpusContext {
  /** A valid key of API_KEYS. */
  apiKey: string;
  /** Another valid key (another tenant): the uploads below belong to `apiKey`. */
  otherApiKey: string;
  /** The API's MAX_UPLOAD_BYTES. */
  maxUploadBytes: number;
  /** Uploaded with `apiKey` by {@link uploadFixtures}. */
  ids: FixtureIds;
}

export interface FixtureIds {
  /** The golden mlp_tanh_mse model (P = 51, input width 4, 3 outputs). */
  modelId: string;
  /** Its batch (float32 inputs [n,4], targets [n,3]). */
  datasetId: string;
  /** A 2×7 float32 array: the wrong shape for any vectors of the model. */
  wrongShapeArrayId: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte builders
// ---------------------------------------------------------------------------------------------------------------

const MiB = 1024 * 1024;
const GOLDEN_DIR = resolve(import.meta.dirname, '../../fixtures/golden');
export const golden = (name: string, file: string): Buffer => readFileSync(join(GOLDEN_DIR, name, file));

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** A `.npy` file with exactly this header text and data; the length field can lie. */
export function npyFile(
  header: string | Buffer,
  data: Uint8Array = new Uint8Array(0),
  opts: { major?: number; minor?: number; headerLength?: number } = {},
): Buffer {
  const major = opts.major ?? 1;
  const h = typeof header === 'string' ? Buffer.from(header, 'latin1') : header;
  const lengthField = Buffer.alloc(major >= 2 ? 4 : 2);
  const declared = opts.headerLength ?? h.length;
  if (major >= 2) lengthField.writeUInt32LE(declared >>> 0);
  else lengthField.writeUInt16LE(declared & 0xffff);
  return Buffer.concat([NPY_MAGIC, Buffer.from([major, opts.minor ?? 0]), lengthField, h, data]);
}

/** A header dict as np.save writes it (padded to 64 bytes), with the given fields spelled as Python. */
export function npyHeader(descr: string, shape: string, fortran = 'False'): string {
  const text = `{'descr': ${descr.startsWith('[') ? descr : `'${descr}'`}, 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + text.length + 1) % 64);
  return `${text}${' '.repeat(pad % 64)}\n`;
}

const shapeText = (shape: readonly number[]): string =>
  shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;

/** A valid little-endian float32 `.npy` of this shape, filled with `fill(i)`. */
export function f4Npy(shape: readonly number[], fill: (i: number) => number = (i) => (i % 7) / 8): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = fill(i);
  return npyFile(npyHeader('<f4', shapeText(shape)), new Uint8Array(data.buffer));
}

/** A valid float32 `.npy` of about `bytes` bytes (a [n, 64] array). */
function f4NpyOfSize(bytes: number): Buffer {
  const rows = Math.max(1, Math.ceil(bytes / 256));
  const header = npyHeader('<f4', shapeText([rows, 64]));
  return npyFile(header, new Uint8Array(rows * 256));
}

const stored = (name: string | Buffer, data: Uint8Array): ZipEntry => ({
  name,
  payload: data,
  method: 0,
  crc: crc32(data),
  size: data.length,
});

const deflated = (name: string | Buffer, data: Uint8Array): ZipEntry => ({
  name,
  payload: deflateRawSync(data),
  method: 8,
  crc: crc32(data),
  size: data.length,
});

/**
 * A raw deflate stream of `mebibytes` MiB of zeros, built without allocating them (a sync-flushed 1 MiB segment
 * repeated, then an empty final block), and the CRC-32 of those zeros.
 */
function zerosStream(mebibytes: number): { payload: Buffer; crc: number } {
  const zeros = new Uint8Array(MiB);
  const segment = deflateRawSync(zeros, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const payload = Buffer.alloc(segment.length * mebibytes + 2);
  let crc = 0;
  for (let i = 0; i < mebibytes; i++) {
    payload.set(segment, i * segment.length);
    crc = crc32(zeros, crc);
  }
  payload.set([0x03, 0x00], segment.length * mebibytes);
  return { payload, crc };
}

/** The golden batch's shapes: inputs [2, 4] and targets [2, 3] float32. */
const validInputs = () => f4Npy([2, 4]);
const validTargets = () => f4Npy([2, 3]);
/** A valid np.savez archive of the batch. */
const validNpz = () => buildZip([stored('inputs.npy', validInputs()), stored('targets.npy', validTargets())]);

export const BOUNDARY = 'hostileCorpusBoundary7';
const MULTIPART = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
const JSON_TYPE = { 'content-type': 'application/json' };

interface Part {
  name?: string | null;
  filename?: string | null;
  /** The part's Content-Type (default application/octet-stream; null: none). */
  type?: string | null;
  /** Replaces the whole Content-Disposition value (an empty string omits the header). */
  disposition?: string;
  headers?: string[];
  body: Uint8Array | string;
}

/** A multipart/form-data body written by hand (so every header and boundary can be wrong). */
export function multipart(
  parts: Part[],
  opts: { boundary?: string; close?: boolean; eol?: string } = {},
): Buffer {
  const b = opts.boundary ?? BOUNDARY;
  const eol = opts.eol ?? '\r\n';
  const out: Buffer[] = [];
  for (const p of parts) {
    let head = `--${b}${eol}`;
    if (p.disposition !== undefined) {
      if (p.disposition) head += `Content-Disposition: ${p.disposition}${eol}`;
    } else {
      head += 'Content-Disposition: form-data';
      if (p.name != null) head += `; name="${p.name}"`;
      if (p.filename != null) head += `; filename="${p.filename}"`;
      head += eol;
    }
    if (p.type !== null) head += `Content-Type: ${p.type ?? 'application/octet-stream'}${eol}`;
    for (const h of p.headers ?? []) head += h + eol;
    head += eol;
    out.push(Buffer.from(head, 'latin1'), toBuffer(p.body), Buffer.from(eol, 'latin1'));
  }
  if (opts.close !== false) out.push(Buffer.from(`--${b}--${eol}`, 'latin1'));
  return Buffer.concat(out);
}

function toBuffer(b: Uint8Array | string): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

const deepArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const deepObjects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** `[[0,0],[0,0],...,[0]]` with about `elements` numbers: ragged only at its very end. */
function raggedAtEnd(elements: number): string {
  const rows = Math.max(1, Math.floor(elements / 2));
  return `[${'[0,0],'.repeat(rows - 1)}[0]]`;
}

/** How many numbers `"0,"` fit in `bytes` of JSON. */
const numbersIn = (bytes: number) => Math.max(4, Math.floor((bytes - 64) / 2));

/** The deepest `{"a":...}` nesting (7 bytes a level) that fits in `bytes`, at most `max`. */
const objectDepthIn = (bytes: number, max: number) => Math.min(max, Math.floor((bytes - 512) / 7));

/** A UTF-16LE encoding with a BOM. */
const utf16 = (text: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);

// ---------------------------------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------------------------------

const UNKNOWN_JOB = '0f0f0f0f-0000-4000-8000-000000000000';
const UNKNOWN_ID = 'ffffffffffffffffffffffffffffffff';
const ANY_4XX_BAD_INPUT = [400, 422];
const TOO_LARGE_OR_BAD = [413, 422];
const NOT_FOUND_OR_BAD = [400, 404];
const NO_ROUTE = [404, 405];

/** Every case, for an API with this context. */
export function hostileCases(ctx: CorpusContext): HostileCase[] {
  const limit = ctx.maxUploadBytes;
  const cases: HostileCase[] = [];
  const add = (
    group: Group,
    c: Omit<HostileCase, 'group' | 'headers'> & { headers?: Record<string, string> },
  ) => cases.push({ group, headers: {}, ...c });

  // ---- npy ------------------------------------------------------------------------------------------------
  const npyArray = (
    name: string,
    file: () => Uint8Array,
    expect: Expectation = { status: 422 },
    filename = 'x.npy',
  ) =>
    add('npy', {
      name: `npy: ${name}`,
      method: 'POST',
      path: '/v1/arrays',
      headers: MULTIPART,
      body: () => multipart([{ name: 'array', filename, body: file() }]),
      expect,
    });
  const npyDataset = (name: string, inputs: () => Uint8Array, targets: () => Uint8Array = validTargets) =>
    add('npy', {
      name: `npy: dataset ${name}`,
      method: 'POST',
      path: '/v1/datasets',
      headers: MULTIPART,
      body: () =>
        multipart([
          { name: 'inputs', filename: 'inputs.npy', body: inputs() },
          { name: 'targets', filename: 'targets.npy', body: targets() },
        ]),
      expect: { status: 422 },
    });
  const okHeader = npyHeader('<f4', '(2, 4)');
  const okData = new Uint8Array(32);

  npyArray('bad magic', () => Buffer.concat([Buffer.from('\x93NUMPX\x01\x00', 'latin1'), Buffer.alloc(120)]));
  npyArray('empty file', () => Buffer.alloc(0), { status: ANY_4XX_BAD_INPUT });
  npyArray('magic only', () => NPY_MAGIC);
  npyArray('version 0.0', () => npyFile(okHeader, okData, { major: 0 }));
  npyArray('version 4.0', () => npyFile(okHeader, okData, { major: 4 }));
  npyArray('version 255.255', () => npyFile(okHeader, okData, { major: 255, minor: 255 }));
  npyArray('v1 header length 65535 pointing past the end', () =>
    npyFile(okHeader, okData, { headerLength: 0xffff }),
  );
  npyArray('v2 header length 0xFFFFFFFF', () =>
    npyFile(okHeader, okData, { major: 2, headerLength: 0xffffffff }),
  );
  npyArray('v3 header length pointing past the end', () =>
    npyFile(okHeader, okData, { major: 3, headerLength: 40_000 }),
  );
  npyArray(
    "640 KB header of repeated 'descr': fragments",
    () => npyFile(`{${"'descr': ".repeat(72_818)}`, undefined, { major: 2 }),
    { status: TOO_LARGE_OR_BAD },
  );
  npyArray("60 KB header of repeated 'descr': fragments", () => npyFile(`{${"'descr': ".repeat(6000)}`));
  npyArray('1 MB header of spaces', () => npyFile(' '.repeat(MiB), undefined, { major: 2 }), {
    status: TOO_LARGE_OR_BAD,
  });
  npyArray('200 KB header of spaces', () => npyFile(' '.repeat(200 * 1024), undefined, { major: 2 }), {
    status: TOO_LARGE_OR_BAD,
  });
  npyArray('60 KB of spaces inside an unclosed shape', () =>
    npyFile(`{'descr': '<f4', 'fortran_order': False, 'shape': (${' '.repeat(60_000)}`),
  );
  npyArray('header is a list, not a dict', () => npyFile("['descr', '<f4', 'shape', (2, 4)]\n", okData));
  npyArray('header is a Python expression', () => npyFile("__import__('os').system('id')\n", okData));
  npyArray('header is an empty dict', () => npyFile('{}\n', okData));
  npyArray('header missing descr', () => npyFile("{'fortran_order': False, 'shape': (2, 4), }\n", okData));
  npyArray('header missing shape', () => npyFile("{'descr': '<f4', 'fortran_order': False, }\n", okData));
  npyArray('header missing fortran_order', () => npyFile("{'descr': '<f4', 'shape': (2, 4), }\n", okData));
  npyArray('header with an unterminated string', () => npyFile("{'descr': '<f4\n", okData));
  npyArray('header with NUL bytes', () =>
    npyFile("{'descr':\0\0 '<f4', 'fortran_order': False, 'shape': (2, 4), }\n", okData),
  );
  npyArray('v3 header with invalid UTF-8', () =>
    npyFile(
      Buffer.concat([
        Buffer.from("{'descr': '<f4', '"),
        Buffer.from([0xff, 0xfe, 0xc0]),
        Buffer.from("': 1}\n"),
      ]),
      okData,
      { major: 3 },
    ),
  );
  npyArray('Fortran order, 2-D', () => npyFile(npyHeader('<f4', '(2, 4)', 'True'), okData));
  npyArray('object dtype', () => npyFile(npyHeader('|O', '(2,)'), new Uint8Array(16)));
  npyArray('unicode dtype', () => npyFile(npyHeader('<U8', '(2,)'), new Uint8Array(64)));
  npyArray('complex64 dtype', () => npyFile(npyHeader('<c8', '(2, 2)'), okData));
  npyArray('complex128 dtype', () => npyFile(npyHeader('<c16', '(2,)'), okData));
  npyArray('byte-string dtype', () => npyFile(npyHeader('|S4', '(8,)'), okData));
  npyArray('datetime dtype', () => npyFile(npyHeader('<M8[ns]', '(4,)'), okData));
  npyArray('void dtype', () => npyFile(npyHeader('|V16', '(2,)'), okData));
  npyArray('structured dtype', () => npyFile(npyHeader("[('a', '<f4'), ('b', '<f4')]", '(4,)'), okData));
  npyArray("dtype with byte order '!'", () => npyFile(npyHeader('!f4', '(2, 4)'), okData));
  npyArray('empty dtype string', () => npyFile(npyHeader('', '(2, 4)'), okData));
  npyArray('negative dimension', () => npyFile(npyHeader('<f4', '(-1, 8)'), okData));
  npyArray('float dimension', () => npyFile(npyHeader('<f4', '(2.5, 4)'), okData));
  npyArray('dimension 2**60', () => npyFile(npyHeader('<f4', `(${2 ** 60},)`), okData));
  npyArray('shape (2**40, 2**40)', () => npyFile(npyHeader('<f4', `(${2 ** 40}, ${2 ** 40})`), okData));
  npyArray('300-digit dimension', () => npyFile(npyHeader('<f4', `(${'9'.repeat(300)},)`), okData));
  npyArray('100 dimensions', () => npyFile(npyHeader('<f4', `(${'1, '.repeat(100)})`), new Uint8Array(4)));
  npyArray('shape is a string', () => npyFile(npyHeader('<f4', "'(2, 4)'"), okData));
  npyArray('zero elements with a 2**52 axis', () => npyFile(npyHeader('<f4', `(0, ${2 ** 52})`)), {
    status: ANY_4XX_BAD_INPUT,
  });
  npyArray('data truncated by 1 byte', () => f4Npy([2, 4]).subarray(0, -1));
  npyArray('1 trailing byte', () => Buffer.concat([f4Npy([2, 4]), Buffer.from([0])]));
  npyArray('a second array appended', () => Buffer.concat([f4Npy([2, 4]), f4Npy([2, 4])]));
  npyArray('NaN and Infinity in float32 data', () => f4Npy([2, 2], (i) => [1, NaN, Infinity, -Infinity][i]));
  npyArray('float16 holding Inf', () =>
    npyFile(npyHeader('<f2', '(2,)'), new Uint8Array([0x00, 0x7c, 0x00, 0x3c])),
  );
  npyArray('uint64 value over int64', () => {
    const data = Buffer.alloc(8);
    data.writeBigUInt64LE(2n ** 64n - 1n);
    return npyFile(npyHeader('<u8', '(1,)'), data);
  });
  npyArray('a .npy named .npz', () => f4Npy([2, 4]), { status: 422 }, 'x.npz');
  npyArray('a zip named .npy', () => validNpz(), { status: 422 }, 'x.npy');
  npyArray('JSON text named .npy', () => Buffer.from('[[1, 2], [3, 4]]'), { status: 422 }, 'x.npy');
  npyArray(
    'unknown bytes without an extension',
    () => Buffer.from('\x00\x01GIF89a', 'latin1'),
    { status: 422 },
    'x',
  );
  npyArray('valid array over the upload limit', () => f4NpyOfSize(limit + 1024), {
    status: 413,
    code: 'payload_too_large',
  });
  npyDataset('inputs with a bad magic', () => Buffer.from('not a numpy file at all'));
  npyDataset('targets truncated', validInputs, () => f4Npy([2, 3]).subarray(0, -4));
  npyDataset('with mismatched example counts', () => f4Npy([3, 4]));
  npyDataset('inputs with zero examples and a 2**52 axis', () =>
    npyFile(npyHeader('<f4', `(0, ${2 ** 52})`)),
  );
  npyDataset('inputs as a 0-d scalar', () => f4Npy([]));

  // ---- npz / zip ------------------------------------------------------------------------------------------
  const npzDataset = (name: string, archive: () => Uint8Array, expect: Expectation = { status: 422 }) =>
    add('npz', {
      name: `npz: ${name}`,
      method: 'POST',
      path: '/v1/datasets',
      headers: MULTIPART,
      body: () => multipart([{ name: 'npz', filename: 'batch.npz', body: archive() }]),
      expect,
    });
  const withInputs = (entry: ZipEntry, opts?: ZipOptions) =>
    buildZip([entry, stored('targets.npy', validTargets())], opts);
  const bombMiB = Math.min(2047, Math.max(64, Math.ceil((4 * limit) / MiB)));

  npzDataset('not a zip', () => Buffer.from('this is not a zip archive, just text'.repeat(10)));
  npzDataset('empty file', () => Buffer.alloc(0), { status: ANY_4XX_BAD_INPUT });
  npzDataset("only 'PK'", () => Buffer.from('PK'));
  npzDataset('a .npy named .npz', () => f4Npy([2, 4]));
  npzDataset('truncated central directory (last 40 bytes cut)', () => validNpz().subarray(0, -40));
  npzDataset('central directory size larger than present', () => {
    const good = validNpz();
    return buildZip([stored('inputs.npy', validInputs()), stored('targets.npy', validTargets())], {
      eocd: { directorySize: good.length * 4 },
    });
  });
  npzDataset('end record pointing outside the file', () =>
    buildZip([stored('inputs.npy', validInputs()), stored('targets.npy', validTargets())], {
      eocd: { directoryStart: 0x7fffff00 },
    }),
  );
  npzDataset('end record claiming 65535 entries', () =>
    withInputs(stored('inputs.npy', validInputs()), { eocd: { count: 0xffff } }),
  );
  npzDataset('end record claiming 1000 entries for 2', () =>
    withInputs(stored('inputs.npy', validInputs()), { eocd: { count: 1000 } }),
  );
  npzDataset('empty archive (end record only)', () => buildZip([]));
  npzDataset('local header offset outside the file', () =>
    withInputs({ ...stored('inputs.npy', validInputs()), localHeaderOffset: 0x7ffffff0 }),
  );
  npzDataset('wrong local header signature', () =>
    withInputs({ ...stored('inputs.npy', validInputs()), localSignature: 0x08074b50 }),
  );
  npzDataset(
    'entry size lying low: 8 MiB of deflated zeros declared as 100 bytes',
    () => {
      const { payload, crc } = zerosStream(8);
      return withInputs({ name: 'inputs.npy', payload, method: 8, crc, size: 100 });
    },
    { status: TOO_LARGE_OR_BAD },
  );
  npzDataset(
    'entry size lying high: declares 2 GiB',
    () => withInputs({ ...deflated('inputs.npy', validInputs()), size: 2 ** 31 }),
    { status: TOO_LARGE_OR_BAD },
  );
  npzDataset('entry size off by one', () =>
    withInputs({ ...deflated('inputs.npy', validInputs()), size: validInputs().length + 1 }),
  );
  npzDataset('compressed size past the end', () =>
    withInputs({ ...deflated('inputs.npy', validInputs()), compressedSize: 0x7fffffff }),
  );
  npzDataset(
    `honest deflate bomb: ${bombMiB} MiB of zeros`,
    () => {
      const { payload, crc } = zerosStream(bombMiB);
      return withInputs({ name: 'inputs.npy', payload, method: 8, crc, size: bombMiB * MiB });
    },
    { status: TOO_LARGE_OR_BAD },
  );
  npzDataset(
    `dishonest deflate bomb: ${bombMiB} MiB of zeros declared as 1 KiB`,
    () => {
      const { payload, crc } = zerosStream(bombMiB);
      return withInputs({ name: 'inputs.npy', payload, method: 8, crc, size: 1024 });
    },
    { status: TOO_LARGE_OR_BAD },
  );
  npzDataset(
    '2000 entries',
    () => buildZip(Array.from({ length: 2000 }, (_, i) => stored(`a${i}.npy`, new Uint8Array(0)))),
    { status: TOO_LARGE_OR_BAD },
  );
  npzDataset('bad CRC', () => withInputs({ ...deflated('inputs.npy', validInputs()), crc: 0xdeadbeef }));
  npzDataset('encrypted flag', () => withInputs({ ...stored('inputs.npy', validInputs()), flags: 0x0001 }));
  npzDataset('strong-encryption flag', () =>
    withInputs({ ...stored('inputs.npy', validInputs()), flags: 0x0041 }),
  );
  npzDataset('bzip2 method (12)', () => withInputs({ ...stored('inputs.npy', validInputs()), method: 12 }));
  npzDataset('AES method (99)', () => withInputs({ ...stored('inputs.npy', validInputs()), method: 99 }));
  npzDataset('deflate64 method (9)', () => withInputs({ ...stored('inputs.npy', validInputs()), method: 9 }));
  npzDataset('unknown method 77', () => withInputs({ ...stored('inputs.npy', validInputs()), method: 77 }));
  npzDataset('garbage deflate data', () =>
    withInputs({
      name: 'inputs.npy',
      payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13]),
      method: 8,
      crc: 0,
      size: 200,
    }),
  );
  npzDataset('nested zip stored as inputs.npy', () => withInputs(stored('inputs.npy', validNpz())));
  npzDataset('only nested .npz entries', () => buildZip([stored('inner.npz', validNpz())]));
  npzDataset('path traversal names ../../inputs.npy', () =>
    buildZip([stored('../../inputs.npy', validInputs()), stored('../../targets.npy', validTargets())]),
  );
  npzDataset('absolute names /inputs.npy', () =>
    buildZip([stored('/inputs.npy', validInputs()), stored('/targets.npy', validTargets())]),
  );
  npzDataset('NUL in an entry name', () =>
    buildZip([stored(Buffer.from('inputs.npy\0.txt'), validInputs()), stored('targets.npy', validTargets())]),
  );
  npzDataset('64 KB entry name', () => withInputs(stored(`${'a'.repeat(65_000)}.npy`, validInputs())));
  npzDataset('zip64 sizes saturated without the extra field', () =>
    buildZip([stored('inputs.npy', validInputs()), stored('targets.npy', validTargets())], {
      zip64: true,
      omitZip64Extra: true,
    }),
  );
  npzDataset(
    'zip64 extra claiming 2**62 bytes',
    () =>
      buildZip(
        [{ ...stored('inputs.npy', validInputs()), size: 2 ** 62 }, stored('targets.npy', validTargets())],
        { zip64: true },
      ),
    { status: TOO_LARGE_OR_BAD },
  );
  npzDataset('zip64 locator pointing outside', () =>
    buildZip([stored('inputs.npy', validInputs()), stored('targets.npy', validTargets())], {
      zip64LocatorOffset: 2 ** 40,
    }),
  );
  npzDataset('duplicate entries', () =>
    buildZip([
      stored('inputs.npy', validInputs()),
      stored('inputs.npy', validInputs()),
      stored('targets.npy', validTargets()),
    ]),
  );
  npzDataset('overlapping entries', () =>
    buildZip([
      stored('inputs.npy', validInputs()),
      { ...stored('targets.npy', validTargets()), localHeaderOffset: 0 },
    ]),
  );
  npzDataset('multi-disk archive', () =>
    withInputs(stored('inputs.npy', validInputs()), { eocd: { disk: 1 } }),
  );
  npzDataset('missing targets', () => buildZip([stored('inputs.npy', validInputs())]));
  npzDataset('corrupt inputs.npy inside', () =>
    withInputs(stored('inputs.npy', validInputs().subarray(0, 50))),
  );
  npzDataset('end-record comment length past the end', () =>
    withInputs(stored('inputs.npy', validInputs()), { eocd: { commentLength: 500 } }),
  );
  npzDataset(
    'archive over the upload limit',
    () => withInputs(stored('inputs.npy', f4NpyOfSize(limit + 1024))),
    {
      status: 413,
      code: 'payload_too_large',
    },
  );
  add('npz', {
    name: 'npz: three arrays sent to /v1/arrays',
    method: 'POST',
    path: '/v1/arrays',
    headers: MULTIPART,
    body: () =>
      multipart([
        {
          name: 'array',
          filename: 'x.npz',
          body: buildZip([
            stored('a.npy', validInputs()),
            stored('b.npy', validInputs()),
            stored('c.npy', validInputs()),
          ]),
        },
      ]),
    expect: { status: ANY_4XX_BAD_INPUT },
  });

  // ---- JSON -----------------------------------------------------------------------------------------------
  const { modelId, datasetId, wrongShapeArrayId } = ctx.ids;
  const baseJob = {
    modelId,
    datasetId,
    loss: { name: 'mean_squared_error' },
    method: { name: 'diagonal' },
  };
  const jsonCase = (
    name: string,
    path: '/v1/arrays' | '/v1/datasets' | '/v1/jobs',
    body: () => CaseBody,
    expect: Expectation,
    headers: Record<string, string> = JSON_TYPE,
  ) => add('json', { name: `json: ${path.slice(4)} ${name}`, method: 'POST', path, headers, body, expect });
  const arraysJson = (
    name: string,
    text: () => CaseBody,
    expect: Expectation = { status: ANY_4XX_BAD_INPUT },
  ) => jsonCase(name, '/v1/arrays', text, expect);
  const datasetsJson = (
    name: string,
    text: () => CaseBody,
    expect: Expectation = { status: ANY_4XX_BAD_INPUT },
  ) => jsonCase(name, '/v1/datasets', text, expect);
  const jobsJson = (name: string, text: () => CaseBody, expect: Expectation = { status: 400 }) =>
    jsonCase(name, '/v1/jobs', text, expect);
  const jobText = (method: string) =>
    `{"modelId":"${modelId}","datasetId":"${datasetId}","loss":{"name":"mean_squared_error"},"method":${method}}`;

  arraysJson('100k-deep nested arrays', () => `{"data":${deepArrays(100_000)}}`, { status: 422 });
  datasetsJson('100k-deep nested arrays', () => `{"inputs":${deepArrays(100_000)},"targets":[1]}`, {
    status: 422,
  });
  jobsJson('100k-deep nested arrays in method.vectors', () =>
    jobText(`{"name":"hvp","vectors":${deepArrays(100_000)}}`),
  );
  // 100k levels of objects take 700 KB: as deep as fits under the limit (37k levels at 256 KiB).
  const objectDepth = objectDepthIn(limit, 100_000);
  jobsJson(
    `${objectDepth}-deep nested objects in loss`,
    () =>
      `{"modelId":"${modelId}","datasetId":"${datasetId}","loss":${deepObjects(objectDepth)},"method":{"name":"diagonal"}}`,
  );
  datasetsJson(
    `${objectDepth}-deep nested objects`,
    () => `{"inputs":${deepObjects(objectDepth)},"targets":[1]}`,
  );
  arraysJson(`${objectDepth}-deep nested objects`, () => `{"data":${deepObjects(objectDepth)}}`);
  arraysJson('100k unclosed brackets', () => `{"data":${'['.repeat(100_000)}`);
  datasetsJson('1M-element ragged array', () => `{"inputs":${raggedAtEnd(1_000_000)},"targets":[1]}`, {
    status: TOO_LARGE_OR_BAD,
  });
  datasetsJson(
    'ragged array filling the upload limit',
    // 3 bytes a number ("0," or "0]," plus "[" per row of two).
    () => `{"inputs":${raggedAtEnd(Math.floor((limit - 256) / 3))},"targets":[1]}`,
    { status: TOO_LARGE_OR_BAD },
  );
  arraysJson('strings in the array', () => '{"data":[["1","2"],["3","4"]]}', { status: 422 });
  arraysJson('null in the array', () => '{"data":[[1,null],[3,4]]}', { status: 422 });
  arraysJson('NaN literal', () => '{"data":[[1,NaN]]}');
  arraysJson('Infinity literal', () => '{"data":[[1,Infinity]]}');
  arraysJson('-Infinity literal', () => '{"data":[[-Infinity,1]]}');
  arraysJson('mixed booleans and numbers', () => '{"data":[[true,1],[0,false]]}', { status: 422 });
  arraysJson('exponent 1e400', () => '{"data":[[1e400,1]]}', { status: 422 });
  arraysJson('exponent -1e400', () => '{"data":[[-1e400,1]]}', { status: 422 });
  arraysJson('400-digit integer', () => `{"data":[[${'9'.repeat(400)},1]]}`, { status: 422 });
  datasetsJson('duplicate keys', () => '{"inputs":[[1,2,3,4]],"targets":[[1,2,3]],"inputs":[[5,6,7,8]]}');
  arraysJson('duplicate keys', () => '{"data":[[1]],"data":[[2]]}');
  jobsJson(
    'duplicate keys',
    () =>
      `{"modelId":"${modelId}","modelId":"${UNKNOWN_ID}","datasetId":"${datasetId}","loss":{"name":"mean_squared_error"},"method":{"name":"diagonal"}}`,
    { status: NOT_FOUND_OR_BAD },
  );
  datasetsJson('extra keys', () => '{"inputs":[[1,2,3,4]],"targets":[[1,2,3]],"extra":[1]}');
  jobsJson('extra keys', () => JSON.stringify({ ...baseJob, admin: true }));
  arraysJson('empty body', () => '', { status: 400 });
  datasetsJson('empty body', () => '', { status: 400 });
  jobsJson('empty body', () => '');
  arraysJson('whitespace-only body', () => ' \n\t'.repeat(1000));
  jobsJson('whitespace-only body', () => ' \n\t'.repeat(1000));
  arraysJson('invalid UTF-8 in a key', () =>
    Buffer.concat([Buffer.from('{"da'), Buffer.from([0xff, 0xc0]), Buffer.from('ta":[[1]]}')]),
  );
  jobsJson('invalid UTF-8 in a value', () =>
    Buffer.concat([
      Buffer.from(`{"modelId":"`),
      Buffer.from([0xc3, 0x28, 0xff]),
      Buffer.from(`","datasetId":"x","loss":{"name":"mean_squared_error"},"method":{"name":"diagonal"}}`),
    ]),
  );
  arraysJson('UTF-16LE with a BOM', () => utf16('{"data":[[1,2]]}'));
  jobsJson('UTF-16LE with a BOM', () => utf16(JSON.stringify(baseJob)));
  arraysJson('two BOMs', () =>
    Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), Buffer.from('{"data":[[1]]}')]),
  );
  jobsJson('__proto__ at the top level', () =>
    jobText('{"name":"diagonal"}').replace('{', '{"__proto__":{"status":"succeeded"},'),
  );
  jobsJson('constructor.prototype at the top level', () =>
    jobText('{"name":"diagonal"}').replace('{', '{"constructor":{"prototype":{"isAdmin":true}},'),
  );
  jobsJson('__proto__ in method', () => jobText('{"name":"eigen","__proto__":{"k":1000000000}}'));
  jobsJson(
    '__proto__ in loss',
    () =>
      `{"modelId":"${modelId}","datasetId":"${datasetId}","loss":{"name":"mean_squared_error","__proto__":{"l2":-1}},"method":{"name":"diagonal"}}`,
  );
  jobsJson('escaped \\u005f\\u005fproto\\u005f\\u005f key', () =>
    jobText('{"name":"diagonal"}').replace('{', '{"\\u005f\\u005fproto\\u005f\\u005f":{"x":1},'),
  );
  datasetsJson('__proto__ key', () => '{"__proto__":[[1]],"inputs":[[1,2,3,4]],"targets":[[1,2,3]]}');
  arraysJson('top-level array', () => '[[1,2],[3,4]]');
  datasetsJson('top-level string', () => '"inputs"');
  arraysJson('trailing garbage', () => '{"data":[[1]]} trailing');
  arraysJson('comments', () => '{/* c */"data":[[1]]}');
  arraysJson('single quotes', () => "{'data':[[1]]}");
  arraysJson('unterminated', () => '{"data":[[1,2],[3');
  datasetsJson('zero examples', () => '{"inputs":[],"targets":[]}');
  datasetsJson('inputs is an object', () => '{"inputs":{"a":1},"targets":[1]}');
  arraysJson('empty data', () => '{"data":[]}');
  arraysJson('scalar data', () => '{"data":5}');
  datasetsJson('300-character key', () => `{"${'k'.repeat(300)}":[1],"inputs":[[1]],"targets":[[1]]}`);
  datasetsJson('an empty input name key', () => '{"inputs.":[[1]],"targets":[[1]]}');
  datasetsJson(
    'inputs and inputs.<name> together',
    () => '{"inputs":[[1]],"inputs.a":[[1]],"targets":[[1]]}',
    {
      status: [400, 422],
    },
  );
  datasetsJson('10k keys', () => `{${Array.from({ length: 10_000 }, (_, i) => `"k${i}":[1]`).join(',')}}`);
  arraysJson('leading zero 01', () => '{"data":[[01,2]]}');
  arraysJson('bare minus', () => '{"data":[[-,2]]}');
  arraysJson('trailing dot 1.', () => '{"data":[[1.,2]]}');
  arraysJson('raw control character in a key', () => '{"da\u0001ta":[[1]]}');
  arraysJson('lone surrogate escape in a key', () => '{"\\ud800":[[1]]}');
  arraysJson('body over the upload limit', () => `{"data":[${'0,'.repeat(numbersIn(limit) + 1024)}0]}`, {
    status: 413,
    code: 'payload_too_large',
  });
  jobsJson(
    'body over the upload limit',
    () => jobText(`{"name":"hvp","vectors":[[${'0,'.repeat(numbersIn(limit) + 1024)}0]]}`),
    {
      status: 413,
      code: 'payload_too_large',
    },
  );

  // ---- multipart ------------------------------------------------------------------------------------------
  const mpCase = (
    name: string,
    path: string,
    body: () => CaseBody,
    expect: Expectation,
    headers: Record<string, string> = MULTIPART,
  ) => add('multipart', { name: `multipart: ${name}`, method: 'POST', path, headers, body, expect });
  const datasetParts = () => [
    { name: 'inputs', filename: 'inputs.npy', body: validInputs() },
    { name: 'targets', filename: 'targets.npy', body: validTargets() },
  ];
  const modelJsonText = golden('mlp_tanh_mse', 'model.json');
  const shard = golden('mlp_tanh_mse', 'group1-shard1of1.bin');

  mpCase(
    'no boundary',
    '/v1/datasets',
    () => multipart(datasetParts()),
    { status: [400, 415] },
    {
      'content-type': 'multipart/form-data',
    },
  );
  mpCase(
    'empty boundary',
    '/v1/datasets',
    () => multipart(datasetParts()),
    { status: [400, 415] },
    {
      'content-type': 'multipart/form-data; boundary=',
    },
  );
  mpCase(
    'boundary mismatch',
    '/v1/datasets',
    () => multipart(datasetParts(), { boundary: 'otherBoundary' }),
    {
      status: 400,
    },
  );
  mpCase('body cut mid-part', '/v1/datasets', () => multipart(datasetParts()).subarray(0, 300), {
    status: 400,
  });
  mpCase(
    'body cut inside part headers',
    '/v1/datasets',
    () => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-da`),
    {
      status: 400,
    },
  );
  mpCase('no closing boundary', '/v1/datasets', () => multipart(datasetParts(), { close: false }), {
    status: 400,
  });
  mpCase('preamble only', '/v1/datasets', () => 'just a preamble, no boundary at all\r\n'.repeat(100), {
    status: 400,
  });
  mpCase('empty body', '/v1/datasets', () => '', { status: 400 });
  mpCase('a text field', '/v1/datasets', () => multipart([{ name: 'inputs', body: 'hello', type: null }]), {
    status: 400,
    code: 'unexpected_part',
  });
  // Named arrays (models with several inputs or outputs): names are bounded, unique, and one form per role.
  mpCase(
    'an empty input name',
    '/v1/datasets',
    () => multipart([{ name: 'inputs.', filename: 'a.npy', body: validInputs() }, datasetParts()[1]]),
    { status: 400, code: 'unexpected_part' },
  );
  mpCase(
    'a 300-character input name',
    '/v1/datasets',
    () =>
      multipart([
        { name: `inputs.${'a'.repeat(300)}`, filename: 'a.npy', body: validInputs() },
        datasetParts()[1],
      ]),
    { status: 400, code: 'unexpected_part' },
  );
  mpCase(
    'a named input twice',
    '/v1/datasets',
    () =>
      multipart([
        { name: 'inputs.a', filename: 'a.npy', body: validInputs() },
        { name: 'inputs.a', filename: 'a.npy', body: validInputs() },
        datasetParts()[1],
      ]),
    { status: 400 },
  );
  mpCase(
    'inputs and inputs.<name> together',
    '/v1/datasets',
    () => multipart([...datasetParts(), { name: 'inputs.a', filename: 'a.npy', body: validInputs() }]),
    { status: [400, 422] },
  );
  mpCase(
    '11 text fields',
    '/v1/datasets',
    () => multipart(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, body: 'x', type: null }))),
    { status: 400 },
  );
  mpCase(
    'unknown part name',
    '/v1/datasets',
    () => multipart([{ name: 'evil', filename: 'x.npy', body: validInputs() }]),
    {
      status: 400,
      code: 'unexpected_part',
    },
  );
  mpCase(
    'part name with quotes and angle brackets',
    '/v1/arrays',
    () =>
      multipart([{ disposition: 'form-data; name="a\\"><script>"; filename="x.npy"', body: validInputs() }]),
    { status: 400 },
  );
  mpCase(
    'part without Content-Disposition',
    '/v1/arrays',
    () => multipart([{ disposition: '', body: validInputs() }]),
    {
      status: 400,
    },
  );
  mpCase(
    'Content-Disposition without a name',
    '/v1/arrays',
    () => multipart([{ disposition: 'form-data; filename="x.npy"', body: validInputs() }]),
    { status: 400 },
  );
  mpCase(
    'Content-Disposition inline',
    '/v1/arrays',
    () => multipart([{ disposition: 'inline; name="array"; filename="x.npy"', body: Buffer.from('nope') }]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase(
    '1001 parts',
    '/v1/models',
    () =>
      multipart([
        { name: 'model', filename: 'model.json', body: modelJsonText },
        ...Array.from({ length: 1000 }, (_, i) => ({ name: 'weights', filename: `s${i}.bin`, body: 'x' })),
      ]),
    { status: [400, 413] },
  );
  mpCase(
    '1001 unknown parts',
    '/v1/datasets',
    () =>
      multipart(Array.from({ length: 1001 }, (_, i) => ({ name: `p${i}`, filename: 'x.npy', body: 'x' }))),
    { status: [400, 413] },
  );
  // Part headers over busboy's bounds (80 KiB, 100 pairs) are cut by the parser itself and the upload is valid, so
  // they are not hostile cases: the memory they can take is bounded either way.
  mpCase(
    'filename with ../ and NUL',
    '/v1/datasets',
    () =>
      multipart([
        { name: 'inputs', filename: '../../../../tmp/hostile\0.npy', body: Buffer.from('not an array') },
        { name: 'targets', filename: '..\\..\\targets.npy', body: validTargets() },
      ]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase(
    'filename* with an encoded traversal',
    '/v1/arrays',
    () =>
      multipart([
        {
          disposition: `form-data; name="array"; filename*=UTF-8''..%2F..%2F..%2Fetc%2Fpasswd`,
          body: Buffer.from('root:x:0:0'),
        },
      ]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase(
    'too large in total across parts',
    '/v1/datasets',
    () =>
      multipart([
        { name: 'inputs', filename: 'inputs.npy', body: f4NpyOfSize(Math.ceil(limit * 0.6)) },
        { name: 'targets', filename: 'targets.npy', body: f4NpyOfSize(Math.ceil(limit * 0.6)) },
      ]),
    { status: 413, code: 'payload_too_large' },
  );
  mpCase(
    'many small parts summing over the limit',
    '/v1/models',
    () => {
      const n = 500;
      const each = Buffer.alloc(Math.ceil((limit * 1.2) / n));
      return multipart([
        { name: 'model', filename: 'model.json', body: modelJsonText },
        ...Array.from({ length: n }, (_, i) => ({ name: 'weights', filename: `s${i}.bin`, body: each })),
      ]);
    },
    { status: 413, code: 'payload_too_large' },
  );
  mpCase(
    'one part over the limit',
    '/v1/arrays',
    () => multipart([{ name: 'array', filename: 'x.npy', body: f4NpyOfSize(limit + 1024) }]),
    { status: 413, code: 'payload_too_large' },
  );
  mpCase(
    'missing model part',
    '/v1/models',
    () => multipart([{ name: 'weights', filename: 'group1-shard1of1.bin', body: shard }]),
    {
      status: ANY_4XX_BAD_INPUT,
    },
  );
  mpCase(
    'two model parts',
    '/v1/models',
    () =>
      multipart([
        { name: 'model', filename: 'model.json', body: modelJsonText },
        { name: 'model', filename: 'model.json', body: modelJsonText },
        { name: 'weights', filename: 'group1-shard1of1.bin', body: shard },
      ]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase('only an inputs part', '/v1/datasets', () => multipart([datasetParts()[0]]), {
    status: ANY_4XX_BAD_INPUT,
  });
  mpCase(
    'npz and inputs parts together',
    '/v1/datasets',
    () => multipart([...datasetParts(), { name: 'npz', filename: 'b.npz', body: validNpz() }]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase('two inputs parts', '/v1/datasets', () => multipart([...datasetParts(), datasetParts()[0]]), {
    status: ANY_4XX_BAD_INPUT,
  });
  mpCase(
    'two array parts',
    '/v1/arrays',
    () =>
      multipart([
        { name: 'array', filename: 'a.npy', body: validInputs() },
        { name: 'array', filename: 'b.npy', body: validInputs() },
      ]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase('empty form on /v1/models', '/v1/models', () => `--${BOUNDARY}--\r\n`, {
    status: ANY_4XX_BAD_INPUT,
  });
  mpCase('empty form on /v1/arrays', '/v1/arrays', () => `--${BOUNDARY}--\r\n`, {
    status: ANY_4XX_BAD_INPUT,
  });
  mpCase(
    'part with Content-Transfer-Encoding: base64',
    '/v1/arrays',
    () =>
      multipart([
        {
          name: 'array',
          filename: 'x.npy',
          headers: ['Content-Transfer-Encoding: base64'],
          body: validInputs().toString('base64'),
        },
      ]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase(
    'nested multipart/mixed part',
    '/v1/arrays',
    () =>
      multipart([
        {
          name: 'array',
          filename: 'x.npy',
          type: 'multipart/mixed; boundary=inner',
          body: `--inner\r\nContent-Type: text/plain\r\n\r\nhello\r\n--inner--\r\n`,
        },
      ]),
    { status: ANY_4XX_BAD_INPUT },
  );
  mpCase('LF-only line endings', '/v1/datasets', () => multipart(datasetParts(), { eol: '\n' }), {
    status: ANY_4XX_BAD_INPUT,
  });

  // ---- model.json -----------------------------------------------------------------------------------------
  const modelCase = (
    name: string,
    modelJson: () => string | Buffer,
    expect: Expectation = { status: 422 },
    shards: () => [string, Uint8Array][] = () => [['group1-shard1of1.bin', shard]],
  ) =>
    add('model', {
      name: `model: ${name}`,
      method: 'POST',
      path: '/v1/models',
      headers: MULTIPART,
      body: () =>
        multipart([
          { name: 'model', filename: 'model.json', body: modelJson() },
          ...shards().map(([filename, bytes]) => ({ name: 'weights', filename, body: bytes })),
        ]),
      expect,
    });
  /** The golden Sequential model.json, changed by `edit`. */
  const mutated =
    (edit: (m: any) => void, base = 'mlp_tanh_mse') =>
    () => {
      const m = JSON.parse(golden(base, 'model.json').toString('utf8'));
      edit(m);
      return JSON.stringify(m);
    };
  const layersOf = (m: any): any[] => m.modelTopology.config.layers;
  const manifestWeights = (m: any): any[] => m.weightsManifest[0].weights;
  const functionalShard = golden('functional_residual_mse', 'group1-shard1of1.bin');
  const functionalCase = (name: string, edit: (layers: any[], config: any) => void) =>
    modelCase(
      name,
      mutated((m) => edit(layersOf(m), m.modelTopology.config), 'functional_residual_mse'),
      { status: 422 },
      () => [['group1-shard1of1.bin', functionalShard]],
    );

  modelCase('not JSON', () => '{"modelTopology": ');
  modelCase('a JSON array', () => '[]');
  modelCase('JSON null', () => 'null');
  modelCase('a JSON string', () => '"model"');
  modelCase('an empty model.json', () => '', { status: ANY_4XX_BAD_INPUT });
  modelCase('200 KB of whitespace', () => ' '.repeat(200 * 1024));
  modelCase(
    'missing weightsManifest',
    mutated((m) => delete m.weightsManifest),
  );
  modelCase(
    'weightsManifest is an object',
    mutated((m) => (m.weightsManifest = { paths: ['a'] })),
  );
  modelCase(
    'a null manifest entry',
    mutated((m) => (m.weightsManifest = [null])),
  );
  modelCase(
    'manifest paths not strings',
    mutated((m) => (m.weightsManifest[0].paths = [1, { a: 2 }])),
  );
  modelCase(
    'manifest without paths',
    mutated((m) => delete m.weightsManifest[0].paths),
  );
  modelCase(
    '20k manifest paths',
    mutated((m) => (m.weightsManifest[0].paths = Array.from({ length: 20_000 }, (_, i) => `s${i}`))),
  );
  modelCase(
    'shard shorter than the manifest says',
    () => modelJsonText,
    { status: 422 },
    () => [['group1-shard1of1.bin', shard.subarray(8)]],
  );
  modelCase(
    'shard longer than the manifest says',
    () => modelJsonText,
    { status: 422 },
    () => [['group1-shard1of1.bin', Buffer.concat([shard, Buffer.alloc(8)])]],
  );
  modelCase(
    'shard missing',
    () => modelJsonText,
    { status: 422, code: 'missing_weights' },
    () => [],
  );
  modelCase(
    'an unlisted extra shard',
    () => modelJsonText,
    { status: 422 },
    () => [
      ['group1-shard1of1.bin', shard],
      ['extra.bin', shard],
    ],
  );
  modelCase(
    'an extra weights part named ../../../etc/passwd',
    () => modelJsonText,
    { status: 422 },
    () => [
      ['group1-shard1of1.bin', shard],
      ['../../../etc/passwd', shard],
    ],
  );
  modelCase(
    'weights filename with NUL',
    () => modelJsonText,
    { status: ANY_4XX_BAD_INPUT },
    () => [['group1-shard1of1.bin\0.png', shard]],
  );
  modelCase(
    '10k-deep nested layer config (objects)',
    // Spliced in as text: JSON.stringify of a 10k-deep object overflows the client's own stack.
    () =>
      mutated((m) => (layersOf(m)[0].config.kernel_initializer = '@DEEP@'))().replace(
        '"@DEEP@"',
        deepObjects(10_000),
      ),
    { status: ANY_4XX_BAD_INPUT },
  );
  modelCase(
    '10k-deep nested arrays as batch_input_shape',
    () =>
      modelJsonText
        .toString('utf8')
        .replace(/"batch_input_shape":\s*\[[^\]]*\]/, `"batch_input_shape": ${deepArrays(10_000)}`),
    { status: ANY_4XX_BAD_INPUT },
  );
  modelCase(
    'unsupported layer Conv3D',
    mutated((m) => (layersOf(m)[1].class_name = 'Conv3D')),
    {
      status: 422,
      code: 'unsupported_layer',
    },
  );
  modelCase(
    'a Lambda layer with code',
    mutated((m) => {
      layersOf(m)[1].class_name = 'Lambda';
      layersOf(m)[1].config.function = "lambda x: __import__('os').system('id')";
    }),
  );
  modelCase(
    'weight shape [1e9, 1e9] in the manifest',
    mutated((m) => (manifestWeights(m)[0].shape = [1e9, 1e9])),
    {
      status: TOO_LARGE_OR_BAD,
    },
  );
  modelCase(
    'negative weight shape in the manifest',
    mutated((m) => (manifestWeights(m)[0].shape = [-4, -6])),
  );
  modelCase(
    'fractional weight shape in the manifest',
    mutated((m) => (manifestWeights(m)[0].shape = [4.5, 6])),
  );
  modelCase(
    'complex64 weights',
    mutated((m) => (manifestWeights(m)[0].dtype = 'complex64')),
  );
  modelCase(
    'string weights',
    mutated((m) => (manifestWeights(m)[0].dtype = 'string')),
  );
  modelCase(
    'bogus quantization',
    mutated((m) => (manifestWeights(m)[0].quantization = { dtype: 'uint8', scale: -1, min: 1e308 })),
  );
  modelCase(
    'Dense with 1e9 units',
    mutated((m) => (layersOf(m)[0].config.units = 1e9)),
    { status: TOO_LARGE_OR_BAD },
  );
  modelCase(
    'Dense with -1 units',
    mutated((m) => (layersOf(m)[0].config.units = -1)),
  );
  modelCase(
    'Dense with 0 units',
    mutated((m) => (layersOf(m)[0].config.units = 0)),
  );
  modelCase(
    'batch_input_shape [null, 1e9]',
    mutated((m) => (layersOf(m)[0].config.batch_input_shape = [null, 1e9])),
    {
      status: TOO_LARGE_OR_BAD,
    },
  );
  modelCase(
    'no modelTopology',
    mutated((m) => delete m.modelTopology),
  );
  modelCase(
    'modelTopology null',
    mutated((m) => (m.modelTopology = null)),
  );
  modelCase(
    'layers not an array',
    mutated((m) => (m.modelTopology.config.layers = { 0: layersOf(m)[0] })),
  );
  modelCase(
    'empty layers',
    mutated((m) => (m.modelTopology.config.layers = [])),
  );
  modelCase(
    'duplicate layer names',
    mutated((m) => (layersOf(m)[1].config.name = layersOf(m)[0].config.name)),
  );
  modelCase(
    'a layer name 100 KB long',
    mutated((m) => (layersOf(m)[1].config.name = 'n'.repeat(100 * 1024))),
  );
  modelCase(
    'class_name __proto__',
    mutated((m) => (layersOf(m)[1].class_name = '__proto__')),
  );
  modelCase(
    'a weight named __proto__',
    mutated((m) => (manifestWeights(m)[0].name = '__proto__')),
  );
  modelCase(
    'format graph-model',
    mutated((m) => (m.format = 'graph-model')),
    { status: ANY_4XX_BAD_INPUT },
  );
  functionalCase('functional model with a cycle', (layers) => {
    layers[1].inbound_nodes = [[['dense_1', 0, 0, {}]]];
  });
  functionalCase('functional inbound from an unknown layer', (layers) => {
    layers[2].inbound_nodes = [
      [
        ['ghost', 0, 0, {}],
        ['input_1', 0, 0, {}],
      ],
    ];
  });
  functionalCase('functional output layer unknown', (_layers, config) => {
    config.output_layers = [['ghost', 0, 0]];
  });
  functionalCase('functional self-loop', (layers) => {
    layers[3].inbound_nodes = [[['layer_normalization', 0, 0, {}]]];
  });
  modelCase(
    'model part over the upload limit',
    () => modelJsonText.toString('utf8') + ' '.repeat(limit + 1024),
    {
      status: 413,
      code: 'payload_too_large',
    },
  );

  // ---- jobs, ids, parameters --------------------------------------------------------------------------------
  const get = (name: string, path: string, expect: Expectation, extra: Partial<HostileCase> = {}) =>
    add('jobs', { name: `jobs: ${name}`, method: 'GET', path, expect, ...extra });
  const submit = (
    name: string,
    body: unknown,
    expect: Expectation = { status: 400, code: 'validation_failed' },
    headers: Record<string, string> = {},
  ) =>
    add('jobs', {
      name: `jobs: ${name}`,
      method: 'POST',
      path: '/v1/jobs',
      headers: { ...JSON_TYPE, ...headers },
      body: () =>
        typeof body === 'function' ? body() : typeof body === 'string' ? body : JSON.stringify(body),
      expect,
    });
  const withMethod = (method: unknown) => ({ ...baseJob, method });

  get('unknown job id', `/v1/jobs/${UNKNOWN_JOB}`, { status: 404, code: 'job_not_found' });
  get('unknown short job id', '/v1/jobs/nope', { status: 404, code: 'job_not_found' });
  add('jobs', {
    name: 'jobs: cancel an unknown job',
    method: 'DELETE',
    path: `/v1/jobs/${UNKNOWN_JOB}`,
    expect: { status: 404 },
  });
  get('artifact of an unknown job', `/v1/jobs/${UNKNOWN_JOB}/artifacts/hessian.npy`, { status: 404 });
  get('artifact name ..%2f..%2fetc%2fpasswd', `/v1/jobs/${UNKNOWN_JOB}/artifacts/..%2f..%2fetc%2fpasswd`, {
    status: NOT_FOUND_OR_BAD,
  });
  get('8 KB job id', `/v1/jobs/${'a'.repeat(8192)}`, { status: [400, 404, 414] });
  get('job id %2e%2e%2f%2e%2e%2f', '/v1/jobs/%2e%2e%2f%2e%2e%2fetc', { status: NOT_FOUND_OR_BAD });
  get('job id with unicode (été)', '/v1/jobs/%C3%A9t%C3%A9', { status: NOT_FOUND_OR_BAD });
  get('job id with an emoji', '/v1/jobs/%F0%9F%92%A3', { status: NOT_FOUND_OR_BAD });
  get('job id with a right-to-left override', '/v1/jobs/abc%E2%80%AEdef', { status: NOT_FOUND_OR_BAD });
  get('unknown model id', `/v1/models/${UNKNOWN_ID}`, { status: 404, code: 'model_not_found' });
  get('unknown dataset id', `/v1/datasets/${UNKNOWN_ID}`, { status: 404, code: 'dataset_not_found' });
  get('unknown array id', `/v1/arrays/${UNKNOWN_ID}`, { status: 404, code: 'array_not_found' });
  add('jobs', {
    name: 'jobs: delete an unknown model',
    method: 'DELETE',
    path: `/v1/models/${UNKNOWN_ID}`,
    expect: { status: 404 },
  });
  add('jobs', {
    name: 'jobs: delete a dataset with an 8 KB id',
    method: 'DELETE',
    path: `/v1/datasets/${'d'.repeat(8192)}`,
    expect: { status: [400, 404, 414] },
  });
  get(
    "another tenant's model",
    `/v1/models/${modelId}`,
    { status: 404, code: 'model_not_found' },
    {
      headers: { authorization: `Bearer ${ctx.otherApiKey}` },
    },
  );
  submit('method name svd', withMethod({ name: 'svd' }));
  submit('method name __proto__', withMethod({ name: '__proto__' }));
  submit('method name constructor', withMethod({ name: 'constructor' }));
  submit('method name toString', withMethod({ name: 'toString' }));
  submit('method name 10 KB long', withMethod({ name: 'h'.repeat(10_240) }));
  submit('method name null', withMethod({ name: null }));
  submit('method as a string', withMethod('hessian'));
  submit('eigen k = 1e9', withMethod({ name: 'eigen', k: 1e9 }));
  submit('eigen k = 0', withMethod({ name: 'eigen', k: 0 }));
  submit('eigen k = -1', withMethod({ name: 'eigen', k: -1 }));
  submit('eigen k = 1.5', withMethod({ name: 'eigen', k: 1.5 }));
  submit('eigen k as a string', withMethod({ name: 'eigen', k: '3' }));
  submit('eigen k = 1e400', jobText('{"name":"eigen","k":1e400}'));
  submit('trace with negative probes', withMethod({ name: 'trace', probes: -5 }));
  submit('diagonal_estimate with 1e9 probes', withMethod({ name: 'diagonal_estimate', probes: 1e9 }));
  submit('eigen maxIter 1e12', withMethod({ name: 'eigen', maxIter: 1e12 }));
  submit('inverse_hvp maxIter 1e9', withMethod({ name: 'inverse_hvp', maxIter: 1e9 }));
  submit('density steps 1e9', withMethod({ name: 'density', steps: 1e9 }));
  submit('density gridPoints 1e9', withMethod({ name: 'density', gridPoints: 1e9 }));
  submit('eigen tol -1', withMethod({ name: 'eigen', tol: -1 }));
  submit('inverse_hvp damping -1', withMethod({ name: 'inverse_hvp', damping: -1 }));
  submit(
    'hvp with vectorsId of the wrong shape',
    { ...withMethod({ name: 'hvp' }), vectorsId: wrongShapeArrayId },
    { status: 422 },
  );
  submit('hvp with ragged vectors', withMethod({ name: 'hvp', vectors: [[1, 2], [1]] }), { status: 422 });
  submit('hvp with vectors of the wrong length', withMethod({ name: 'hvp', vectors: [[1, 2, 3]] }), {
    status: 422,
  });
  submit(
    'hvp with a 50k-long vector',
    () => jobText(`{"name":"hvp","vectors":[[${'0,'.repeat(50_000)}0]]}`),
    {
      status: 422,
    },
  );
  submit('hvp with null in vectors', withMethod({ name: 'hvp', vectors: [[null]] }));
  submit(
    'hvp with vectors and vectorsId',
    { ...withMethod({ name: 'hvp', vectors: [[1]] }), vectorsId: wrongShapeArrayId },
    {
      status: ANY_4XX_BAD_INPUT,
    },
  );
  submit('hessian over MAX_DENSE_PARAMS', withMethod({ name: 'hessian' }), {
    status: 413,
    code: 'too_large',
  });
  submit('finite_difference over MAX_DENSE_PARAMS', withMethod({ name: 'finite_difference' }), {
    status: 413,
    code: 'too_large',
  });
  submit('empty parameters.include', { ...baseJob, parameters: { include: [] } });
  submit(
    'unknown parameter name',
    { ...baseJob, parameters: { include: ['no_such_layer'] } },
    {
      status: 422,
      code: 'invalid_parameters',
    },
  );
  submit(
    '20k parameter names',
    { ...baseJob, parameters: { include: Array.from({ length: 20_000 }, (_, i) => `p${i}`) } },
    {
      status: ANY_4XX_BAD_INPUT,
    },
  );
  submit('unknown loss', { ...baseJob, loss: { name: 'cross' } });
  submit('negative l2', { ...baseJob, loss: { name: 'mean_squared_error', l2: -1 } });
  submit('huber delta 0', { ...baseJob, loss: { name: 'huber', delta: 0 } });
  submit(
    'sparse labels on float targets',
    { ...baseJob, loss: { name: 'sparse_categorical_crossentropy' } },
    { status: 422 },
  );
  submit('unknown modelId', { ...baseJob, modelId: UNKNOWN_ID }, { status: 404, code: 'model_not_found' });
  submit(
    'unknown datasetId',
    { ...baseJob, datasetId: UNKNOWN_ID },
    { status: 404, code: 'dataset_not_found' },
  );
  submit(
    'unknown vectorsId',
    { ...withMethod({ name: 'hvp' }), vectorsId: UNKNOWN_ID },
    { status: 404, code: 'array_not_found' },
  );
  submit(
    'datasetId given as modelId',
    { ...baseJob, modelId: datasetId },
    { status: 404, code: 'model_not_found' },
  );
  submit('modelId ../../etc/passwd', { ...baseJob, modelId: '../../etc/passwd' });
  submit('modelId 200 characters', { ...baseJob, modelId: 'a'.repeat(200) });
  submit('modelId a number', { ...baseJob, modelId: 42 });
  submit('seed -1', { ...baseJob, seed: -1 });
  submit('seed 2**31', { ...baseJob, seed: 2 ** 31 });
  submit('seed 1.5', { ...baseJob, seed: 1.5 });
  submit('body an array', '[]');
  submit('body a string', '"job"');
  submit('body a number', '42');
  submit('body null', 'null');
  submit('body true', 'true');
  add('jobs', {
    name: 'jobs: POST without a body or type',
    method: 'POST',
    path: '/v1/jobs',
    expect: { status: [400, 415] },
  });
  submit(
    'Idempotency-Key of 1000 characters',
    baseJob,
    { status: 400, code: 'invalid_idempotency_key' },
    {
      'idempotency-key': 'k'.repeat(1000),
    },
  );
  submit(
    'Idempotency-Key of 8 KB',
    baseJob,
    { status: 400, code: 'invalid_idempotency_key' },
    {
      'idempotency-key': 'k'.repeat(8192),
    },
  );
  submit(
    'empty Idempotency-Key',
    baseJob,
    { status: 400, code: 'invalid_idempotency_key' },
    { 'idempotency-key': '' },
  );
  get('list with limit=1e9', '/v1/jobs?limit=1000000000', { status: 400, code: 'validation_failed' });
  get('list with limit=-1', '/v1/jobs?limit=-1', { status: 400, code: 'validation_failed' });
  get('list with limit=abc', '/v1/jobs?limit=abc', { status: 400, code: 'validation_failed' });
  get('list with status=bogus', '/v1/jobs?status=bogus', { status: 400, code: 'validation_failed' });
  get('list with cursor=../../x', '/v1/jobs?cursor=..%2F..%2Fx', { status: 400, code: 'validation_failed' });
  get('list with an 8 KB cursor', `/v1/jobs?cursor=${'c'.repeat(8192)}`, { status: 400 });
  get('models list with limit=0', '/v1/models?limit=0', { status: 400, code: 'validation_failed' });

  // ---- encoded paths, hostile URLs, auth -----------------------------------------------------------------------
  const url = (
    name: string,
    method: string,
    path: string,
    expect: Expectation,
    extra: Partial<HostileCase> = {},
  ) => add('urls', { name: `urls: ${name}`, method, path, expect, ...extra });
  const unauthorized = { status: 401, code: 'unauthorized' };

  url('/%761/jobs without a key', 'GET', '/%761/jobs', unauthorized, { auth: 'none' });
  url('/%76%31/%6a%6f%62%73 without a key', 'GET', '/%76%31/%6a%6f%62%73', unauthorized, { auth: 'none' });
  url('GET /v1/jobs without a key', 'GET', '/v1/jobs', unauthorized, { auth: 'none' });
  url('a wrong key', 'GET', '/v1/jobs', unauthorized, { headers: { authorization: 'Bearer not-a-key' } });
  url('Basic credentials', 'GET', '/v1/jobs', unauthorized, {
    headers: { authorization: `Basic ${Buffer.from(`user:${ctx.apiKey}`).toString('base64')}` },
  });
  url('a 2 KB bearer token', 'GET', '/v1/jobs', unauthorized, {
    headers: { authorization: `Bearer ${'t'.repeat(2048)}` },
  });
  url("'Bearer' without a token", 'GET', '/v1/jobs', unauthorized, { headers: { authorization: 'Bearer' } });
  url('an 8 KB Authorization header', 'GET', '/v1/jobs', unauthorized, {
    headers: { authorization: 'x'.repeat(8192) },
  });
  url('the key in the query string only', 'GET', `/v1/jobs?api_key=${ctx.apiKey}`, unauthorized, {
    auth: 'none',
  });
  url('dataset upload without a key', 'POST', '/v1/datasets', unauthorized, {
    auth: 'none',
    headers: JSON_TYPE,
    body: () => '{"inputs":[[1,2,3,4]],"targets":[[1,2,3]]}',
  });
  url('over-limit model upload without a key', 'POST', '/v1/models', unauthorized, {
    auth: 'none',
    headers: MULTIPART,
    body: () =>
      multipart([{ name: 'model', filename: 'model.json', body: Buffer.alloc(limit + 1024, 0x20) }]),
  });
  url('unknown route without a key', 'GET', '/v1/nothing-here', unauthorized, { auth: 'none' });
  url('unknown route with a key', 'GET', '/v1/nothing-here', { status: 404, code: 'route_not_found' });
  url('queue dashboard API without a key', 'GET', '/admin/queues/api/queues', unauthorized, { auth: 'none' });
  url('/v1/jobs/%E0%A4%A (cut UTF-8 escape)', 'GET', '/v1/jobs/%E0%A4%A', { status: 400 });
  url('/v1/jobs/%zz', 'GET', '/v1/jobs/%zz', { status: 400 });
  url('/v1/jobs/%00', 'GET', '/v1/jobs/%00', { status: NOT_FOUND_OR_BAD });
  url('overlong UTF-8 dots %C0%AE%C0%AE', 'GET', '/v1/jobs/%C0%AE%C0%AE', { status: NOT_FOUND_OR_BAD });
  url('//v1//jobs', 'GET', '//v1//jobs', { status: NOT_FOUND_OR_BAD });
  url('/v1/jobs/..%2f..%2fetc%2fpasswd', 'GET', '/v1/jobs/..%2f..%2fetc%2fpasswd', {
    status: NOT_FOUND_OR_BAD,
  });
  url('raw ../../etc/passwd', 'GET', '/v1/jobs/../../etc/passwd', { status: NOT_FOUND_OR_BAD });
  url('/v1/%2e%2e/%2e%2e/etc/passwd', 'GET', '/v1/%2e%2e/%2e%2e/etc/passwd', { status: NOT_FOUND_OR_BAD });
  url('double-encoded %252e%252e%252f', 'GET', '/v1/jobs/%252e%252e%252fetc', { status: NOT_FOUND_OR_BAD });
  url('an 8 KB path', 'GET', `/v1/${'p'.repeat(8192)}`, { status: [404, 414] });
  url('1000 repeated limit params', 'GET', `/v1/jobs?${'limit=1&'.repeat(1000)}`, { status: 400 });
  url(
    '1000 distinct params on an unknown job',
    'GET',
    `/v1/jobs/${UNKNOWN_JOB}?${Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join('&')}`,
    { status: 404 },
  );
  url('query with __proto__', 'GET', '/v1/jobs?__proto__[limit]=1&limit=x', { status: 400 });
  url('OPTIONS /v1/jobs', 'OPTIONS', '/v1/jobs', { status: NO_ROUTE });
  url(
    'PUT /v1/jobs',
    'PUT',
    '/v1/jobs',
    { status: NO_ROUTE },
    { headers: JSON_TYPE, body: () => JSON.stringify(baseJob) },
  );
  url('PATCH /v1/jobs', 'PATCH', '/v1/jobs', { status: NO_ROUTE }, { headers: JSON_TYPE, body: () => '{}' });
  url('PUT /v1/models', 'PUT', '/v1/models', { status: NO_ROUTE }, { headers: JSON_TYPE, body: () => '{}' });
  url(
    'PATCH /v1/datasets',
    'PATCH',
    '/v1/datasets',
    { status: NO_ROUTE },
    { headers: JSON_TYPE, body: () => '{}' },
  );
  url(
    'PUT /v1/arrays',
    'PUT',
    '/v1/arrays',
    { status: NO_ROUTE },
    { headers: JSON_TYPE, body: () => '{"data":[[1]]}' },
  );
  url('DELETE /v1/models (the collection)', 'DELETE', '/v1/models', { status: NO_ROUTE });
  url('OPTIONS * (asterisk form)', 'OPTIONS', '*', { status: [400, 404, 405] });
  url('absolute-form request target', 'GET', `http://evil.example/v1/jobs/${UNKNOWN_JOB}`, {
    status: NOT_FOUND_OR_BAD,
  });
  url('unknown method FOO', 'FOO', '/v1/jobs', { status: [400, 404, 405, 501] });
  url('raw UTF-8 bytes in the path', 'GET', Buffer.from('/v1/jöbs/été', 'utf8').toString('latin1'), {
    status: NOT_FOUND_OR_BAD,
  });
  url('matrix parameter ;jsessionid', 'GET', '/v1/jobs;jsessionid=1', { status: NOT_FOUND_OR_BAD });
  url('backslashes in the path', 'GET', '/v1\\jobs\\x', { status: NOT_FOUND_OR_BAD });
  url('/v1/jobs/%20', 'GET', '/v1/jobs/%20', { status: NOT_FOUND_OR_BAD });

  // ---- headers -------------------------------------------------------------------------------------------------
  const hdr = (
    name: string,
    extra: Omit<HostileCase, 'group' | 'name' | 'headers'> & { headers?: Record<string, string> },
  ) => add('headers', { name: `headers: ${name}`, ...extra });
  const smallJson = () => '{"inputs":[[1,2,3,4]],"targets":[[1,2,3]]}';
  const unsupported = { status: 415, code: 'unsupported_media_type' };

  hdr('text/plain on /v1/jobs', {
    method: 'POST',
    path: '/v1/jobs',
    headers: { 'content-type': 'text/plain' },
    body: () => JSON.stringify(baseJob),
    expect: unsupported,
  });
  hdr('text/plain on /v1/datasets', {
    method: 'POST',
    path: '/v1/datasets',
    headers: { 'content-type': 'text/plain' },
    body: smallJson,
    expect: unsupported,
  });
  hdr('text/plain on /v1/arrays', {
    method: 'POST',
    path: '/v1/arrays',
    headers: { 'content-type': 'text/plain' },
    body: () => '{"data":[[1]]}',
    expect: unsupported,
  });
  hdr('application/xml on /v1/datasets', {
    method: 'POST',
    path: '/v1/datasets',
    headers: { 'content-type': 'application/xml' },
    body: () => '<inputs/>',
    expect: unsupported,
  });
  hdr('form-urlencoded on /v1/jobs', {
    method: 'POST',
    path: '/v1/jobs',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: () => `modelId=${modelId}&datasetId=${datasetId}`,
    expect: unsupported,
  });
  hdr('no Content-Type with a body', {
    method: 'POST',
    path: '/v1/arrays',
    body: () => '{"data":[[1]]}',
    expect: { status: [400, 415] },
  });
  hdr('JSON body sent as multipart (/v1/datasets)', {
    method: 'POST',
    path: '/v1/datasets',
    headers: MULTIPART,
    body: smallJson,
    expect: { status: 400 },
  });
  hdr('JSON body sent as multipart (/v1/arrays)', {
    method: 'POST',
    path: '/v1/arrays',
    headers: MULTIPART,
    body: () => '{"data":[[1]]}',
    expect: { status: 400 },
  });
  hdr('multipart body sent as JSON (/v1/datasets)', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: () => multipart(datasetParts()),
    expect: { status: ANY_4XX_BAD_INPUT },
  });
  hdr('multipart body sent as JSON (/v1/models)', {
    method: 'POST',
    path: '/v1/models',
    headers: JSON_TYPE,
    body: () => multipart([{ name: 'model', filename: 'model.json', body: modelJsonText }]),
    expect: { status: [400, 415] },
  });
  hdr('multipart/mixed on /v1/models', {
    method: 'POST',
    path: '/v1/models',
    headers: { 'content-type': `multipart/mixed; boundary=${BOUNDARY}` },
    body: () => multipart([{ name: 'model', filename: 'model.json', body: modelJsonText }]),
    expect: { status: [400, 415] },
  });
  hdr('multipart on /v1/jobs', {
    method: 'POST',
    path: '/v1/jobs',
    headers: MULTIPART,
    body: () => multipart([{ name: 'job', filename: 'job.json', body: JSON.stringify(baseJob) }]),
    expect: { status: [400, 415] },
  });
  hdr('JSON declared as UTF-16', {
    method: 'POST',
    path: '/v1/arrays',
    headers: { 'content-type': 'application/json; charset=utf-16' },
    body: () => utf16('{"data":[[1]]}'),
    expect: { status: [400, 415, 422] },
  });
  hdr('Content-Type with 8 KB of parameters', {
    method: 'POST',
    path: '/v1/jobs',
    headers: {
      'content-type': `application/json; ${Array.from({ length: 800 }, (_, i) => `p${i}=v`).join('; ')}`,
    },
    body: () => '[]',
    expect: { status: [400, 415] },
  });
  hdr('Content-Length larger than the body, then end of stream', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { contentLength: 10_000, halfClose: true },
    expect: { status: 400 },
  });
  hdr('Content-Length larger than the body, connection kept open', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { contentLength: 10_000 },
    slow: true,
    expect: { status: [400, 408] },
  });
  hdr('Content-Length 10**15 on a JSON route', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { contentLength: 10 ** 15 },
    slow: true,
    expect: { status: 413 },
  });
  hdr('Content-Length 10**15 on a multipart route', {
    method: 'POST',
    path: '/v1/models',
    headers: MULTIPART,
    body: () => multipart([{ name: 'model', filename: 'model.json', body: modelJsonText }], { close: false }),
    wire: { contentLength: 10 ** 15 },
    slow: true,
    expect: { status: 413 },
  });
  hdr('multipart body cut by the client (end of stream mid-part)', {
    method: 'POST',
    path: '/v1/datasets',
    headers: MULTIPART,
    body: () => multipart(datasetParts()),
    wire: { cutAt: 250, halfClose: true },
    expect: { status: 400 },
  });
  hdr('Content-Length shorter than the body', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { contentLength: 12 },
    expect: { status: ANY_4XX_BAD_INPUT },
  });
  hdr('two different Content-Length headers', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { contentLength: null, rawHeaderLines: ['Content-Length: 10', 'Content-Length: 42'] },
    expect: { status: 400 },
  });
  hdr('Content-Length and Transfer-Encoding together', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { chunked: 16, rawHeaderLines: ['Content-Length: 5'] },
    expect: { status: 400 },
  });
  hdr('negative Content-Length', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { contentLength: -1 },
    expect: { status: 400 },
  });
  hdr('non-numeric Content-Length', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: smallJson,
    wire: { contentLength: null, rawHeaderLines: ['Content-Length: 12abc'] },
    expect: { status: 400 },
  });
  hdr('chunked JSON over the limit', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    body: () => `{"inputs":[${'0,'.repeat(numbersIn(limit) + 1024)}0],"targets":[1]}`,
    wire: { chunked: 64 * 1024 },
    expect: { status: 413, code: 'payload_too_large' },
  });
  hdr('chunked multipart over the limit', {
    method: 'POST',
    path: '/v1/models',
    headers: MULTIPART,
    body: () =>
      multipart([
        { name: 'model', filename: 'model.json', body: modelJsonText },
        { name: 'weights', filename: 'group1-shard1of1.bin', body: Buffer.alloc(limit + 1024) },
      ]),
    wire: { chunked: 64 * 1024 },
    expect: { status: 413, code: 'payload_too_large' },
  });
  hdr('invalid chunk size', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    wire: { contentLength: null, rawHeaderLines: ['Transfer-Encoding: chunked'] },
    body: () => 'zz\r\n{"inputs":[]}\r\n0\r\n\r\n',
    expect: { status: 400 },
  });
  hdr('chunked body cut mid-chunk (end of stream)', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    wire: { contentLength: null, rawHeaderLines: ['Transfer-Encoding: chunked'], halfClose: true },
    body: () => 'ffffff\r\n{"inputs":[[1,2,3,4]]',
    expect: { status: 400 },
  });
  hdr('Transfer-Encoding gzip, chunked', {
    method: 'POST',
    path: '/v1/datasets',
    headers: JSON_TYPE,
    wire: { contentLength: null, rawHeaderLines: ['Transfer-Encoding: gzip, chunked'] },
    body: () => '5\r\nhello\r\n0\r\n\r\n',
    expect: { status: [400, 415, 422] },
  });
  hdr('Expect: 100-continue with an over-limit Content-Length', {
    method: 'POST',
    path: '/v1/datasets',
    headers: { ...JSON_TYPE, expect: '100-continue' },
    body: smallJson,
    wire: { contentLength: limit * 2 },
    slow: true,
    expect: { status: 413 },
  });
  hdr('Content-Encoding gzip (not decoded)', {
    method: 'POST',
    path: '/v1/arrays',
    headers: { ...JSON_TYPE, 'content-encoding': 'gzip' },
    body: () => Buffer.from('1f8b0800000000000003abae050000', 'hex'),
    expect: { status: [400, 415, 422] },
  });
  hdr('request headers over 16 KB', {
    method: 'GET',
    path: `/v1/jobs/${UNKNOWN_JOB}`,
    headers: { 'x-pad': 'p'.repeat(20 * 1024) },
    expect: { status: [400, 431] },
  });
  hdr('no Host header', {
    method: 'GET',
    path: `/v1/jobs/${UNKNOWN_JOB}`,
    wire: { noHost: true },
    expect: { status: [400, 404] },
  });
  hdr('obsolete line folding', {
    method: 'GET',
    path: `/v1/jobs/${UNKNOWN_JOB}`,
    wire: { rawHeaderLines: ['X-Folded: a', ' b'] },
    expect: { status: [400, 404] },
  });
  hdr('a hostile x-request-id', {
    method: 'GET',
    path: `/v1/jobs/${UNKNOWN_JOB}`,
    headers: { 'x-request-id': `${'<script>'.repeat(100)}` },
    expect: { status: 404, code: 'job_not_found' },
  });
  hdr('Accept: application/xml on an error', {
    method: 'GET',
    path: `/v1/jobs/${UNKNOWN_JOB}`,
    headers: { accept: 'application/xml' },
    expect: { status: [404, 406] },
  });

  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    seen.add(c.name);
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// Sending requests on a raw socket
// ---------------------------------------------------------------------------------------------------------------

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The connection closed before the whole body (by Content-Length or chunking) arrived. */
  incomplete: boolean;
}

export interface Target {
  host: string;
  port: number;
}

export function targetOf(url: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** The bytes and content type of a case body. */
async function serialise(body: CaseBody | undefined): Promise<{ bytes: Buffer; contentType?: string }> {
  if (body === undefined) return { bytes: Buffer.alloc(0) };
  if (typeof body === 'string') return { bytes: Buffer.from(body, 'utf8') };
  if (body instanceof FormData) {
    const response = new Response(body);
    return {
      bytes: Buffer.from(await response.arrayBuffer()),
      contentType: response.headers.get('content-type')!,
    };
  }
  return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
}

export interface SendOptions {
  apiKey?: string;
  timeoutMs?: number;
  /** Called with the client's local port once connected (to find the server's side of the connection). */
  onConnect?: (localPort: number) => void;
}

/** The request of a case, framed as its `wire` says. */
export async function frame(
  c: Pick<HostileCase, 'method' | 'path' | 'headers' | 'body' | 'auth' | 'wire'>,
  target: Target,
  apiKey?: string,
): Promise<{ head: Buffer; body: Buffer }> {
  const wire = c.wire ?? {};
  const { bytes, contentType } = await serialise(c.body?.());
  const lines = [wire.requestLine ?? `${c.method} ${c.path} HTTP/1.1`];
  if (!wire.noHost) lines.push(`Host: ${target.host}:${target.port}`);
  const has = (name: string) => Object.keys(c.headers).some((h) => h.toLowerCase() === name);
  if (apiKey && c.auth !== 'none' && !has('authorization')) lines.push(`Authorization: Bearer ${apiKey}`);
  if (contentType && !has('content-type')) lines.push(`Content-Type: ${contentType}`);
  for (const [k, v] of Object.entries(c.headers)) lines.push(`${k}: ${v}`);
  let body = bytes;
  if (wire.chunked) {
    lines.push('Transfer-Encoding: chunked');
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += wire.chunked) {
      const piece = bytes.subarray(i, i + wire.chunked);
      chunks.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from('0\r\n\r\n'));
    body = Buffer.concat(chunks);
  } else if (wire.contentLength !== null) {
    const declared = wire.contentLength ?? bytes.length;
    const needsLength = c.body !== undefined || ['POST', 'PUT', 'PATCH'].includes(c.method);
    if (needsLength || wire.contentLength !== undefined) lines.push(`Content-Length: ${declared}`);
  }
  lines.push(...(wire.rawHeaderLines ?? []));
  if (wire.cutAt !== undefined) body = body.subarray(0, wire.cutAt);
  return { head: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body };
}

/** Parses a complete response at the start of `buf`; 1xx interim responses are skipped. */
function parseResponse(buf: Buffer, final: boolean): RawReply | null {
  let start = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', start);
    if (end < 0) return null;
    const headLines = buf.subarray(start, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(headLines[0])?.[1] ?? NaN);
    if (Number.isNaN(status))
      throw new Error(`not an HTTP response: ${JSON.stringify(headLines[0].slice(0, 80))}`);
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of headLines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const key = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    }
    const rest = buf.subarray(end + 4);
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let p = 0;
      for (;;) {
        const lineEnd = rest.indexOf('\r\n', p);
        if (lineEnd < 0)
          return final ? { status, headers, body: Buffer.concat(chunks), incomplete: true } : null;
        const size = parseInt(rest.subarray(p, lineEnd).toString('latin1'), 16);
        if (size === 0) return { status, headers, body: Buffer.concat(chunks), incomplete: false };
        if (lineEnd + 2 + size > rest.length) {
          return final ? { status, headers, body: Buffer.concat(chunks), incomplete: true } : null;
        }
        chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
    }
    const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
    if (length !== undefined && rest.length >= length) {
      return { status, headers, body: rest.subarray(0, length), incomplete: false };
    }
    if (!final) return null;
    return { status, headers, body: rest, incomplete: length !== undefined };
  }
}

/**
 * Writes `head` + `body` on a fresh connection and reads one response, then closes the connection. The request is
 * sent as HTTP/1.1 keep-alive (no `Connection: close`), as curl and browsers send it, so the server decides whether
 * to read the rest of a body it refused. The whole request is written even when the server answers early; write
 * errors after a response are ignored.
 *
 * @throws when no response arrives within `timeoutMs` or the connection closes without one.
 */
export function exchange(
  target: Target,
  head: Buffer,
  body: Buffer,
  opts: { halfClose?: boolean; timeoutMs?: number; onConnect?: (localPort: number) => void } = {},
): Promise<RawReply> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: target.host, port: target.port });
    const received: Buffer[] = [];
    let settled = false;
    let lastError: Error | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(
      () => settle(() => reject(new Error(`no response within ${timeoutMs} ms (a hang)`))),
      timeoutMs,
    );
    const tryParse = (final: boolean) => {
      let reply: RawReply | null;
      try {
        reply = parseResponse(Buffer.concat(received), final);
      } catch (e) {
        settle(() => reject(e as Error));
        return;
      }
      if (reply) settle(() => resolvePromise(reply!));
      else if (final) {
        const got = received.reduce((n, b) => n + b.length, 0);
        settle(() =>
          reject(
            new Error(
              `the connection closed without a response (${got} bytes received${lastError ? `, ${lastError.message}` : ''})`,
            ),
          ),
        );
      }
    };
    socket.on('data', (d: Buffer) => {
      received.push(d);
      tryParse(false);
    });
    socket.on('error', (e) => {
      lastError = e;
    });
    socket.on('close', () => tryParse(true));
    socket.on('connect', () => {
      opts.onConnect?.(socket.localPort!);
      socket.write(head);
      if (body.length > 0) socket.write(body);
      if (opts.halfClose) socket.end();
    });
  });
}

/** Sends one case and returns the reply. */
export async function sendCase(target: Target, c: HostileCase, opts: SendOptions = {}): Promise<RawReply> {
  const { head, body } = await frame(c, target, opts.apiKey);
  return exchange(target, head, body, {
    halfClose: c.wire?.halfClose,
    timeoutMs: opts.timeoutMs,
    onConnect: opts.onConnect,
  });
}

/** A well-formed request (setup uploads, health checks). */
export async function request(
  target: Target,
  method: string,
  path: string,
  opts: { body?: CaseBody; headers?: Record<string, string>; apiKey?: string; timeoutMs?: number } = {},
): Promise<{ status: number; headers: Record<string, string>; json: any; body: Buffer }> {
  const c = {
    method,
    path,
    headers: opts.headers ?? {},
    body: opts.body === undefined ? undefined : () => opts.body!,
  };
  const { head, body } = await frame(c, target, opts.apiKey);
  const reply = await exchange(target, head, body, { timeoutMs: opts.timeoutMs });
  let json: any;
  try {
    json = JSON.parse(reply.body.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: reply.status, headers: reply.headers, json, body: reply.body };
}

// ---------------------------------------------------------------------------------------------------------------
// Checking replies
// ---------------------------------------------------------------------------------------------------------------

export interface Outcome {
  case: HostileCase;
  ms: number;
  reply?: RawReply;
  /** The client's local port (the server sees it as the remote port). */
  localPort?: number;
  /** The problem document, when the body was JSON. */
  problem?: any;
  /** Why the case failed; empty when it passed. */
  failures: string[];
}

/** Messages of JavaScript's own errors: a detail holding one is a crash reported as the client's fault. */
const LEAKED_INTERNALS =
  /Cannot read propert|Cannot set propert|is not a function|is not defined|is not iterable|Maximum call stack|Invalid array length|Array buffer allocation failed|\bat \S+\.[jt]s:\d+/;

const oneOf = <T>(v: T | T[] | undefined): T[] | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? v : [v];

/** Every way `reply` misses the contract: a 4xx problem+json matching the case's expectation. */
export function check(c: HostileCase, reply: RawReply): { problem?: any; failures: string[] } {
  const failures: string[] = [];
  let problem: any;
  try {
    problem = JSON.parse(reply.body.toString('utf8'));
  } catch {
    problem = undefined;
  }
  if (reply.status < 400 || reply.status > 499) failures.push(`status ${reply.status} is not a 4xx`);
  const statuses = oneOf(c.expect.status);
  if (statuses && !statuses.includes(reply.status)) failures.push(`expected status ${statuses.join(' or ')}`);
  const type = reply.headers['content-type'] ?? '';
  if (!/^application\/problem\+json/i.test(type)) failures.push(`content-type ${JSON.stringify(type)}`);
  if (problem === undefined || problem === null || typeof problem !== 'object') {
    failures.push('the body is not a JSON object');
  } else {
    if (problem.status !== reply.status) failures.push(`body.status ${problem.status} !== ${reply.status}`);
    if (typeof problem.detail !== 'string' || problem.detail.length === 0) failures.push('no detail');
    if (typeof problem.code !== 'string' || problem.code.length === 0) failures.push('no code');
    if (typeof problem.detail === 'string' && LEAKED_INTERNALS.test(problem.detail)) {
      failures.push('the detail leaks an internal JavaScript error');
    }
    const codes = oneOf(c.expect.code);
    if (codes && !codes.includes(problem.code)) failures.push(`expected code ${codes.join(' or ')}`);
  }
  if (reply.incomplete) failures.push('the response body was cut off');
  return { problem, failures };
}

/** Sends a case, times it and checks the reply. Never throws. */
export async function runCase(target: Target, c: HostileCase, opts: SendOptions = {}): Promise<Outcome> {
  const started = performance.now();
  let localPort: number | undefined;
  const onConnect = (port: number) => {
    localPort = port;
    opts.onConnect?.(port);
  };
  try {
    const reply = await sendCase(target, c, { ...opts, onConnect });
    const ms = performance.now() - started;
    return { case: c, ms, reply, localPort, ...check(c, reply) };
  } catch (e) {
    return { case: c, ms: performance.now() - started, localPort, failures: [(e as Error).message] };
  }
}

/** One line per failing outcome: the case, what it got (status, code, detail) and why it fails. */
export function describeOutcome(o: Outcome): string {
  if (!o.reply) return `${o.case.name}: NO RESPONSE after ${o.ms.toFixed(0)} ms — ${o.failures.join('; ')}`;
  const detail =
    o.problem && typeof o.problem === 'object'
      ? `${o.problem.code ?? '-'} ${JSON.stringify(String(o.problem.detail ?? '').slice(0, 240))}`
      : JSON.stringify(o.reply.body.toString('utf8').slice(0, 160));
  return `${o.case.name}: got ${o.reply.status} [${o.reply.headers['content-type'] ?? 'no content-type'}] ${detail} — ${o.failures.join('; ')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

/** Uploads (with `apiKey`) what the job cases refer to: a model, its batch and a wrongly shaped array. */
export async function uploadFixtures(target: Target, apiKey: string): Promise<FixtureIds> {
  const upload = async (path: string, parts: Part[]) => {
    const r = await request(target, 'POST', path, { body: multipart(parts), headers: MULTIPART, apiKey });
    if (r.status !== 201 && r.status !== 200) {
      throw new Error(`fixture upload ${path}: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
    }
    return r.json.id as string;
  };
  const modelId = await upload('/v1/models', [
    { name: 'model', filename: 'model.json', body: golden('mlp_tanh_mse', 'model.json') },
    {
      name: 'weights',
      filename: 'group1-shard1of1.bin',
      body: golden('mlp_tanh_mse', 'group1-shard1of1.bin'),
    },
  ]);
  const datasetId = await upload('/v1/datasets', [
    { name: 'inputs', filename: 'inputs.npy', body: golden('mlp_tanh_mse', 'inputs.npy') },
    { name: 'targets', filename: 'targets.npy', body: golden('mlp_tanh_mse', 'targets.npy') },
  ]);
  const wrongShapeArrayId = await upload('/v1/arrays', [
    { name: 'array', filename: 'v.npy', body: f4Npy([2, 7]) },
  ]);
  return { modelId, datasetId, wrongShapeArrayId };
}

/** The API keys the test and the bench configure (API_KEYS). */
export const CORPUS_API_KEYS = ['hostile-corpus-key-1', 'hostile-corpus-key-2'] as const;
