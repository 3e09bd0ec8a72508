/**
 * NumPy `.npy` reading and writing (format versions 1.0, 2.0 and 3.0), C order only.
 *
 * Reading accepts the dtypes a user is likely to save a batch in and converts the narrow ones to the engine's
 * dtypes: float16 -> float32; int8, int16, uint16 -> int32; uint32 -> int64; uint64 -> int64 (values must fit).
 * Big-endian data is byte-swapped. Writing produces exactly what `np.save` writes for the same array.
 *
 * Neither direction copies the data when it need not: a file in the engine's own dtypes and the host's byte order
 * is read as a typed-array view over the file's bytes, and an array is written as a header plus a byte view of its
 * data ({@link encodeNpyParts}), so an upload of N bytes costs N, not several N.
 *
 * Format reference: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { EngineError } from '../errors.js';
import { sizeOf, type DType, type Float32NdArray, type NdArray, type TypedArray } from '../ndarray.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ARRAY_ALIGN = 64;
/**
 * The longest header accepted, checked before the header is decoded. `np.save` writes a few hundred bytes (numpy's
 * own reader refuses more than 10000 unless told otherwise); 64 KiB leaves room for any honest writer while a
 * hostile multi-megabyte header is refused without being read.
 */
const MAX_HEADER_BYTES = 64 * 1024;
/** The most axes a shape may have: numpy's own limit (NPY_MAXDIMS) before numpy 2. */
const MAX_NDIM = 32;
/** `np.save` leaves room in the header so the leading axis can grow in place; we match it byte for byte. */
const GROWTH_AXIS_MAX_DIGITS = 21;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** How one on-disk element kind is read: bytes per element, the engine dtype it becomes, how to decode it. */
interface SourceType {
  size: number;
  dtype: DType;
  read: (view: DataView, offset: number, littleEndian: boolean) => number | bigint;
}

const SOURCE_TYPES: Record<string, SourceType> = {
  f2: { size: 2, dtype: 'float32', read: (v, o, le) => halfToFloat(v.getUint16(o, le)) },
  f4: { size: 4, dtype: 'float32', read: (v, o, le) => v.getFloat32(o, le) },
  f8: { size: 8, dtype: 'float64', read: (v, o, le) => v.getFloat64(o, le) },
  i1: { size: 1, dtype: 'int32', read: (v, o) => v.getInt8(o) },
  i2: { size: 2, dtype: 'int32', read: (v, o, le) => v.getInt16(o, le) },
  i4: { size: 4, dtype: 'int32', read: (v, o, le) => v.getInt32(o, le) },
  i8: { size: 8, dtype: 'int64', read: (v, o, le) => v.getBigInt64(o, le) },
  u1: { size: 1, dtype: 'uint8', read: (v, o) => v.getUint8(o) },
  u2: { size: 2, dtype: 'int32', read: (v, o, le) => v.getUint16(o, le) },
  u4: { size: 4, dtype: 'int64', read: (v, o, le) => BigInt(v.getUint32(o, le)) },
  u8: { size: 8, dtype: 'int64', read: (v, o, le) => v.getBigUint64(o, le) },
  b1: { size: 1, dtype: 'bool', read: (v, o) => (v.getUint8(o) === 0 ? 0 : 1) },
};

/**
 * Dtypes whose bytes are the engine's own, so data in the host's byte order can be used as it is instead of decoded.
 * Booleans qualify when every byte is 0 or 1 (numpy writes nothing else; other bytes are read as true, i.e. 1).
 */
const NATIVE_KINDS = new Set(['f4', 'f8', 'i4', 'i8', 'u1', 'b1']);

const DESCR_OF: Record<DType, string> = {
  float32: '<f4',
  float64: '<f8',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  bool: '|b1',
};

const SUPPORTED_DTYPES_TEXT =
  'float32, float64, int32, int64, uint8, bool (also float16, int8, int16, uint16, uint32, uint64, converted)';

function fail(name: string | undefined, message: string, details?: Record<string, unknown>): never {
  throw new EngineError('invalid_array', name ? `${name}: ${message}` : message, details);
}

/** The header of a `.npy` file: its dtype string, order, shape, and where its data starts in the file. */
export interface NpyFileHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data: the magic string, the version, the header length and the header. */
  dataStart: number;
}

/**
 * Reads the magic string, version and header dict at the start of a `.npy` file, without looking at its data, so
 * a large file can be read as a stream after its first bytes (the header is at most 64 KiB plus 12 bytes).
 * @param bytes - the file's first bytes: at least up to the end of the header.
 * @throws EngineError('invalid_array') for a bad magic string or version, or a malformed, truncated or too long
 *   header (as {@link parseNpy}).
 */
export function parseNpyHeader(bytes: Uint8Array, name?: string): NpyFileHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(name, 'not a NumPy .npy file (missing the "\\x93NUMPY" magic string); save arrays with np.save');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major < 1 || major > 3)
    fail(name, `unsupported .npy format version ${major}.${bytes[7]} (expected 1.0-3.0)`);
  const lengthBytes = major === 1 ? 2 : 4;
  const headerStart = 8 + lengthBytes;
  if (bytes.length < headerStart) fail(name, '.npy data is truncated inside its header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLength > MAX_HEADER_BYTES) {
    fail(
      name,
      `.npy header is ${headerLength} bytes, more than the ${MAX_HEADER_BYTES} accepted (np.save writes a few hundred); the file is not a valid .npy`,
      { headerLength, maxHeaderBytes: MAX_HEADER_BYTES },
    );
  }
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) {
    fail(name, `.npy data is truncated: the header says it is ${headerLength} bytes but the file ends first`);
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  return { ...parseHeader(header, name), dataStart };
}

/**
 * Parses the bytes of a NumPy `.npy` file.
 *
 * @param bytes - the whole file. It must not be modified afterwards while the result is in use: see `@returns`.
 * @param name - optional name (e.g. the file name) that prefixes error messages.
 * @returns the array in C order, with its dtype converted as described in the module comment. When the file's dtype
 *   is one of the engine's own (`<f4`, `<f8`, `<i4`, `<i8`, `|u1`, `|b1` holding only 0 and 1, on a little-endian
 *   host) and its data starts at a multiple of the element size in `bytes.buffer`, `data` is a view over `bytes`'
 *   memory, not a copy: the result aliases the input (writes to either show in the other, and the result keeps the
 *   whole of `bytes.buffer` alive). Otherwise `data` is a new array.
 * @throws EngineError('invalid_array') for a bad magic string, a malformed header or one longer than 64 KiB, more
 *   than 32 axes, Fortran order, an unsupported dtype (named in the message), or data shorter or longer than the
 *   header's shape says.
 */
export function parseNpy(bytes: Uint8Array, name?: string): NdArray {
  const { descr, fortranOrder, shape, dataStart } = parseNpyHeader(bytes, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  if (fortranOrder && shape.length > 1) {
    fail(
      name,
      'the array is stored in Fortran (column-major) order; save it with np.save(f, np.ascontiguousarray(a))',
    );
  }
  const byteOrder = descr[0];
  const kind = descr.slice(1);
  const source = SOURCE_TYPES[kind];
  if (!'<>|='.includes(byteOrder) || source === undefined) {
    fail(name, `unsupported dtype '${descr}'${describeDescr(descr)}; supported: ${SUPPORTED_DTYPES_TEXT}`, {
      dtype: descr,
    });
  }
  const littleEndian = byteOrder === '>' ? false : byteOrder === '=' ? HOST_IS_LITTLE_ENDIAN : true;

  // In BigInt: a hostile shape such as (2**40, 2**40) overflows a double's exact range, and the product must be exact
  // for the comparison with the bytes actually present, which is what bounds the allocation below.
  const expected = shape.reduce((product, d) => product * BigInt(d), BigInt(source.size));
  const actualBytes = bytes.length - dataStart;
  if (BigInt(actualBytes) !== expected) {
    const details = { shape, dtype: descr, expectedBytes: Number(expected), actualBytes };
    if (BigInt(actualBytes) < expected) {
      fail(
        name,
        `.npy data is truncated: shape [${shape.join(', ')}] of '${descr}' needs ${expected} bytes of data, found ${actualBytes}`,
        details,
      );
    }
    fail(
      name,
      `.npy file has ${BigInt(actualBytes) - expected} unexpected bytes after the data of shape [${shape.join(', ')}]; the file may be corrupt`,
      details,
    );
  }
  const expectedBytes = Number(expected);
  const count = expectedBytes / source.size;

  const raw = bytes.subarray(dataStart);
  const native =
    NATIVE_KINDS.has(kind) &&
    (littleEndian === HOST_IS_LITTLE_ENDIAN || source.size === 1) &&
    (kind !== 'b1' || onlyZerosAndOnes(raw));
  if (native && raw.byteOffset % source.size === 0) {
    return { dtype: source.dtype, shape, data: viewAs(source.dtype, raw.buffer, raw.byteOffset, count) };
  }
  const data = allocate(source.dtype, count);
  if (native) {
    // A typed array cannot start at a misaligned offset: copy the raw bytes, which aligns them.
    new Uint8Array(data.buffer).set(raw);
  } else {
    decodeInto(data, view, dataStart, source, littleEndian, name);
  }
  return { dtype: source.dtype, shape, data };
}

function onlyZerosAndOnes(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 1) return false;
  return true;
}

/** A typed array of `dtype` over existing memory; `byteOffset` must be a multiple of its element size. */
function viewAs(dtype: DType, buffer: ArrayBufferLike, byteOffset: number, count: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, count);
    case 'float64':
      return new Float64Array(buffer, byteOffset, count);
    case 'int32':
      return new Int32Array(buffer, byteOffset, count);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, count);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, count);
  }
}

function decodeInto(
  data: TypedArray,
  view: DataView,
  start: number,
  source: SourceType,
  littleEndian: boolean,
  name: string | undefined,
): void {
  const int64Max = 0x7fffffffffffffffn;
  for (let i = 0, offset = start; i < data.length; i++, offset += source.size) {
    const value = source.read(view, offset, littleEndian);
    if (typeof value === 'bigint') {
      if (value > int64Max) fail(name, `uint64 value ${value} at flat index ${i} does not fit in int64`);
      (data as BigInt64Array)[i] = value;
    } else {
      (data as Float32Array)[i] = value;
    }
  }
}

function allocate(dtype: DType, count: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(count);
    case 'float64':
      return new Float64Array(count);
    case 'int32':
      return new Int32Array(count);
    case 'int64':
      return new BigInt64Array(count);
    case 'uint8':
    case 'bool':
      return new Uint8Array(count);
  }
}

/** The three fields of a `.npy` header that the format defines. */
interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/** A value in a `.npy` header dict: a string, True/False/None, or a tuple of dimensions. */
type HeaderValue = string | boolean | null | number[];

/**
 * Reads the header, a Python dict literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`
 * (either quote style, optional trailing commas, whitespace anywhere between tokens, Python 2 `3L` dimensions).
 * A single left-to-right scan, so the time is linear in the header's length whatever its content; keys other than
 * the three the format defines are skipped, and a structured dtype (a list for `descr`) is rejected.
 */
function parseHeader(header: string, name: string | undefined): NpyHeader {
  let pos = 0;
  const excerpt = () => JSON.stringify(header.trim().slice(0, 200));
  const malformed = (expected: string): never =>
    fail(name, `malformed .npy header: expected ${expected} at character ${pos}: ${excerpt()}`);
  const skipSpace = () => {
    while (pos < header.length && ' \t\n\r\f\v'.includes(header[pos])) pos++;
  };
  const expect = (char: string) => {
    skipSpace();
    if (header[pos] !== char) malformed(`'${char}'`);
    pos++;
  };
  const readString = (): string => {
    const quote = header[pos];
    const end = header.indexOf(quote, pos + 1);
    if (end < 0) malformed(`a closing ${quote}`);
    const text = header.slice(pos + 1, end);
    pos = end + 1;
    return text;
  };
  const readDimension = (): number => {
    const start = pos;
    while (pos < header.length && header[pos] >= '0' && header[pos] <= '9') pos++;
    if (pos === start) malformed('a non-negative integer in the shape');
    const digits = header.slice(start, pos);
    // Python 2 era files write long integers as "3L".
    if (header[pos] === 'L') pos++;
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) {
      fail(name, `malformed .npy header: shape dimension ${digits.slice(0, 30)} is too large`);
    }
    return value;
  };
  const readShape = (): number[] => {
    pos++; // "("
    const dims: number[] = [];
    for (;;) {
      skipSpace();
      if (header[pos] === ')') break;
      dims.push(readDimension());
      if (dims.length > MAX_NDIM) fail(name, `the array has more than ${MAX_NDIM} axes (numpy's limit)`);
      skipSpace();
      if (header[pos] === ',') pos++;
      else if (header[pos] !== ')') malformed("',' or ')' in the shape");
    }
    pos++; // ")"
    return dims;
  };
  const readValue = (key: string): HeaderValue => {
    skipSpace();
    const char = header[pos];
    if (char === "'" || char === '"') return readString();
    if (char === '(') return readShape();
    if (char === '[' && key === 'descr') {
      fail(name, `structured (record) arrays are not supported; save a plain numeric array`, { header });
    }
    for (const [word, value] of [
      ['True', true],
      ['False', false],
      ['None', null],
    ] as const) {
      if (header.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    return malformed('a string, True, False or a tuple');
  };

  const fields = new Map<string, HeaderValue>();
  expect('{');
  for (;;) {
    skipSpace();
    if (header[pos] === '}') break;
    if (header[pos] !== "'" && header[pos] !== '"') malformed("a quoted key or '}'");
    const key = readString();
    expect(':');
    fields.set(key, readValue(key));
    skipSpace();
    if (header[pos] === ',') pos++;
    else if (header[pos] !== '}') malformed("',' or '}'");
  }
  pos++; // "}"
  skipSpace(); // np.save pads the header with spaces and a final newline
  if (pos < header.length) malformed('the end of the header after the closing brace');

  const descr = fields.get('descr');
  const fortranOrder = fields.get('fortran_order');
  const shape = fields.get('shape');
  if (typeof descr !== 'string' || typeof fortranOrder !== 'boolean' || !Array.isArray(shape)) {
    const invalid = [
      typeof descr !== 'string' && 'descr',
      typeof fortranOrder !== 'boolean' && 'fortran_order',
      !Array.isArray(shape) && 'shape',
    ].filter(Boolean);
    fail(name, `malformed .npy header (missing or invalid ${invalid.join(', ')}): ${excerpt()}`);
  }
  return { descr, fortranOrder, shape };
}

function describeDescr(descr: string): string {
  const kind = descr.replace(/^[<>|=]/, '')[0];
  const names: Record<string, string> = {
    O: 'Python objects',
    U: 'unicode strings',
    S: 'byte strings',
    a: 'byte strings',
    c: 'complex numbers',
    M: 'datetimes',
    m: 'timedeltas',
    V: 'raw bytes / void',
  };
  return names[kind] ? ` (${names[kind]})` : '';
}

/** IEEE 754 binary16 to a JS number (exact: every half is representable in float32). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Encodes an array as a `.npy` file in C order, byte-identical to `np.save` (format 1.0, or 2.0 when the header
 * exceeds 65535 bytes; header padded so the data starts on a 64-byte boundary).
 *
 * @returns a new array holding the whole file: the concatenation of {@link encodeNpyParts}' two parts.
 * @throws EngineError('invalid_array') when `data.length` does not match the shape.
 */
export function encodeNpy(arr: NdArray | Float32NdArray): Uint8Array {
  const { header, data } = encodeNpyParts(arr);
  const out = new Uint8Array(header.byteLength + data.byteLength);
  out.set(header, 0);
  out.set(data, header.byteLength);
  return out;
}

/**
 * The two parts of the `.npy` file {@link encodeNpy} writes, without joining them: to stream, hash or write an
 * array's file without holding a second copy of its data.
 *
 * @returns `header`: the magic string, version, header length and padded header dict, i.e. every byte before the
 *   data (a multiple of 64 bytes long); `data`: the array's data as little-endian bytes. On a little-endian host (or
 *   for 1-byte dtypes) `data` is a view over `arr.data`'s memory, not a copy, so it changes if `arr.data` does; on a
 *   big-endian host it is a converted copy.
 * @throws EngineError('invalid_array') when `data.length` does not match the shape.
 */
export function encodeNpyParts(arr: NdArray | Float32NdArray): { header: Uint8Array; data: Uint8Array } {
  const count = sizeOf(arr.shape);
  if (arr.data.length !== count) {
    fail(
      undefined,
      `cannot encode: shape [${arr.shape.join(', ')}] has ${count} elements but data has ${arr.data.length}`,
    );
  }
  const shapeText =
    arr.shape.length === 0
      ? '()'
      : arr.shape.length === 1
        ? `(${arr.shape[0]},)`
        : `(${arr.shape.join(', ')})`;
  let dict = `{'descr': '${DESCR_OF[arr.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  if (arr.shape.length > 0) dict += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(arr.shape[0]).length);

  // The dict is ASCII, so its length in characters is its length in bytes.
  let lengthBytes = 2;
  let padding = ARRAY_ALIGN - ((MAGIC.length + 2 + lengthBytes + dict.length + 1) % ARRAY_ALIGN);
  if (dict.length + 1 + padding > 0xffff) {
    lengthBytes = 4;
    padding = ARRAY_ALIGN - ((MAGIC.length + 2 + lengthBytes + dict.length + 1) % ARRAY_ALIGN);
  }
  dict += ' '.repeat(padding) + '\n';

  const dictStart = MAGIC.length + 2 + lengthBytes;
  const header = new Uint8Array(dictStart + dict.length);
  header.set(MAGIC, 0);
  header[6] = lengthBytes === 2 ? 1 : 2;
  header[7] = 0;
  const view = new DataView(header.buffer);
  if (lengthBytes === 2) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) header[dictStart + i] = dict.charCodeAt(i);

  const { data } = arr;
  if (HOST_IS_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) {
    return { header, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  const littleEndian = new Uint8Array(data.byteLength);
  writeLittleEndian(new DataView(littleEndian.buffer), 0, data);
  return { header, data: littleEndian };
}

function writeLittleEndian(view: DataView, start: number, data: TypedArray): void {
  const size = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < data.length; i++) {
    const offset = start + i * size;
    if (data instanceof Float32Array) view.setFloat32(offset, data[i], true);
    else if (data instanceof Float64Array) view.setFloat64(offset, data[i], true);
    else if (data instanceof Int32Array) view.setInt32(offset, data[i], true);
    else if (data instanceof BigInt64Array) view.setBigInt64(offset, data[i], true);
  }
}
