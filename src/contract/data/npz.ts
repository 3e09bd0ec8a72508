/**
 * NumPy `.npz` archives: a zip of `.npy` files, as written by `np.savez` (stored) and `np.savez_compressed`
 * (deflated).
 *
 * The zip is read here rather than by a library's one-call unzip, because an upload is hostile until proven
 * otherwise and a zip's size fields are only claims: every size, offset and count is checked against the bytes
 * actually present, and the uncompressed-size budget is charged with the bytes inflation actually produces. So the
 * work and memory spent on an archive are bounded by the upload and the budget, never by what its headers say.
 *
 * Zip reference: PKWARE APPNOTE.TXT 6.3 (sections 4.3 and 4.5.3 for zip64). numpy marks even small entries as zip64 in
 * their local headers; sizes are read from the central directory (then checked), which carries zip64 fields only
 * when a value does not fit in 32 bits, so of a local header only its name and extra-field lengths are used.
 */
import * as buffer from 'node:buffer';
import * as zlib from 'node:zlib';
import { EngineError } from '../errors.js';
import type { NdArray } from '../ndarray.js';
import { parseNpy } from './npy.js';

/** Options for {@link parseNpz}. */
export interface NpzOptions {
  /**
   * The most bytes the archive's arrays may expand to, in total. Honest archives over it are refused before
   * anything is inflated; archives whose headers understate their sizes are stopped as soon as inflation passes
   * it. Callers pass their upload limit.
   * @defaultValue 1 GiB
   */
  maxUncompressedBytes?: number;
}

const DEFAULT_MAX_UNCOMPRESSED_BYTES = 1024 ** 3;
/** Far more entries than any batch holds; bounds the work spent walking the central directory. */
const MAX_ENTRIES = 1000;
/** No array is named like this; bounds the names echoed in error messages. */
const MAX_ENTRY_NAME_BYTES = 1024;
const ZIP_MAGIC = [0x50, 0x4b]; // "PK"
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

const SIG_LOCAL_HEADER = 0x04034b50;
const SIG_CENTRAL_HEADER = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_ZIP64_END = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const LOCAL_HEADER_BYTES = 30;
const CENTRAL_HEADER_BYTES = 46;
const END_BYTES = 22;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_END_BYTES = 56;
const MAX_COMMENT_BYTES = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
/** A 16- or 32-bit field holding this value means "see the zip64 field". */
const U16_SATURATED = 0xffff;
const U32_SATURATED = 0xffffffff;

const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const FLAG_UTF8_NAME = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const METHOD_AES = 99;
const METHOD_NAMES: Record<number, string> = {
  9: 'deflate64',
  12: 'bzip2',
  14: 'LZMA',
  93: 'zstd',
  95: 'xz',
};

const UTF8 = new TextDecoder('utf-8');
const LATIN1 = new TextDecoder('latin1');

/** One entry as the central directory describes it, with its data located through its local header. */
interface ZipEntry {
  name: string;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  dataStart: number;
  dataEnd: number;
}

/**
 * Parses a `.npz` archive into its arrays, keyed like `np.load` keys them (entry name without `.npy`).
 * Directory entries and entries that are not `.npy` files (e.g. a stray README, macOS `__MACOSX/` metadata) are
 * skipped without being inflated, so the caller sees only arrays.
 *
 * @param bytes - the whole archive.
 * @param name - optional name (e.g. the file name) that prefixes error messages.
 * @throws EngineError('invalid_array') when the bytes are not a zip archive, are truncated, hold out-of-range or
 *   overlapping entries, use encryption or a compression other than stored/deflate, hold an entry whose CRC-32 or
 *   size does not match its header, or contain an invalid `.npy` entry (the message names the entry).
 * @throws EngineError('too_large') when the arrays expand beyond `maxUncompressedBytes` (declared or actual), or the
 *   archive lists more than 1000 entries.
 */
export function parseNpz(bytes: Uint8Array, name?: string, options: NpzOptions = {}): Map<string, NdArray> {
  const limit = options.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
  const prefix = name ? `${name}: ` : '';
  if (NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new EngineError('invalid_array', `${prefix}this is a single .npy array, not an .npz archive`);
  }
  if (!ZIP_MAGIC.every((b, i) => bytes[i] === b)) {
    throw new EngineError(
      'invalid_array',
      `${prefix}not an .npz (zip) archive; save arrays with np.savez or np.savez_compressed`,
    );
  }

  const entries = readEntries(bytes, prefix).filter((e) => isArrayEntry(e.name));
  const tooLarge = () =>
    new EngineError(
      'too_large',
      `${prefix}the arrays in this archive expand to more than ${limit} bytes (the limit)`,
      { limit },
    );
  // Honest archives are refused here, before anything is inflated; lying ones by the running count below.
  if (entries.reduce((total, e) => total + e.uncompressedSize, 0) > limit) throw tooLarge();

  let used = 0;
  const arrays = new Map<string, NdArray>();
  for (const entry of entries) {
    const key = entry.name.slice(0, -'.npy'.length);
    if (arrays.has(key)) {
      throw new EngineError('invalid_array', `${prefix}entry ${entry.name} appears twice in the archive`);
    }
    const data = extract(bytes, entry, limit - used, tooLarge, prefix);
    used += data.length;
    arrays.set(key, parseNpy(data, `${prefix}${entry.name}`));
  }
  return arrays;
}

function isArrayEntry(entry: string): boolean {
  return entry.endsWith('.npy') && !entry.startsWith('__MACOSX/');
}

function corrupt(prefix: string, detail: string): never {
  throw new EngineError('invalid_array', `${prefix}not a valid .npz (zip) archive: ${detail}`);
}

/**
 * Reads the central directory and locates every entry's data, checking each offset and size against the archive's
 * actual length and that no two entries' bytes overlap.
 */
function readEntries(bytes: Uint8Array, prefix: string): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { count, directoryStart, directoryEnd } = readEndOfCentralDirectory(view, prefix);
  if (count > MAX_ENTRIES) {
    throw new EngineError(
      'too_large',
      `${prefix}the archive lists ${count} entries, more than the ${MAX_ENTRIES} accepted`,
      { entries: count, maxEntries: MAX_ENTRIES },
    );
  }

  const entries: ZipEntry[] = [];
  let p = directoryStart;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_BYTES > directoryEnd || view.getUint32(p, true) !== SIG_CENTRAL_HEADER) {
      corrupt(prefix, `central directory entry ${i} is missing or truncated`);
    }
    const flags = view.getUint16(p + 8, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    const recordEnd = p + CENTRAL_HEADER_BYTES + nameLength + extraLength + commentLength;
    if (recordEnd > directoryEnd) corrupt(prefix, `central directory entry ${i} is truncated`);
    if (nameLength > MAX_ENTRY_NAME_BYTES) {
      corrupt(prefix, `entry ${i} has a ${nameLength}-byte name (at most ${MAX_ENTRY_NAME_BYTES} accepted)`);
    }
    const nameBytes = bytes.subarray(p + CENTRAL_HEADER_BYTES, p + CENTRAL_HEADER_BYTES + nameLength);
    // Zip names are CP437 unless flagged UTF-8; numpy writes ASCII, where the two agree with latin1.
    const name = (flags & FLAG_UTF8_NAME ? UTF8 : LATIN1).decode(nameBytes);
    const sizes = applyZip64Extra(
      view,
      p + CENTRAL_HEADER_BYTES + nameLength,
      extraLength,
      {
        uncompressedSize: view.getUint32(p + 24, true),
        compressedSize: view.getUint32(p + 20, true),
        localHeaderOffset: view.getUint32(p + 42, true),
        diskStart: view.getUint16(p + 34, true),
      },
      () => corrupt(prefix, `entry ${name} has a missing or short zip64 extra field`),
    );
    if (sizes.diskStart !== 0) corrupt(prefix, `entry ${name} is on another disk of a split archive`);
    entries.push({
      name,
      flags,
      method: view.getUint16(p + 10, true),
      crc32: view.getUint32(p + 16, true),
      ...sizes,
      ...locateData(view, sizes.localHeaderOffset, sizes.compressedSize, directoryStart, name, prefix),
    });
    p = recordEnd;
  }

  const byOffset = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < byOffset.length; i++) {
    if (byOffset[i - 1].dataEnd > byOffset[i].localHeaderOffset) {
      corrupt(prefix, `entries ${byOffset[i - 1].name} and ${byOffset[i].name} overlap`);
    }
  }
  return entries;
}

/**
 * Finds the end-of-central-directory record (searching back over at most a maximal comment) and, when a zip64
 * locator precedes it, the zip64 record, which then supersedes the 16- and 32-bit fields.
 */
function readEndOfCentralDirectory(
  view: DataView,
  prefix: string,
): { count: number; directoryStart: number; directoryEnd: number } {
  let end = -1;
  const lowest = Math.max(0, view.byteLength - END_BYTES - MAX_COMMENT_BYTES);
  for (let p = view.byteLength - END_BYTES; p >= lowest; p--) {
    if (
      view.getUint32(p, true) === SIG_END &&
      p + END_BYTES + view.getUint16(p + 20, true) <= view.byteLength
    ) {
      end = p;
      break;
    }
  }
  if (end < 0) corrupt(prefix, 'no end-of-central-directory record (the file is truncated or not a zip)');

  let count = view.getUint16(end + 10, true);
  let directorySize = view.getUint32(end + 12, true);
  let directoryStart = view.getUint32(end + 16, true);
  let directoryLimit = end; // the central directory must end before the record that describes it
  let multiDisk = view.getUint16(end + 4, true) !== 0 || view.getUint16(end + 6, true) !== 0;

  const locator = end - ZIP64_LOCATOR_BYTES;
  if (locator >= 0 && view.getUint32(locator, true) === SIG_ZIP64_LOCATOR) {
    const record = readUint64(view, locator + 8);
    if (record + ZIP64_END_BYTES > locator || view.getUint32(record, true) !== SIG_ZIP64_END) {
      corrupt(prefix, 'the zip64 end-of-central-directory record is missing or out of range');
    }
    multiDisk = view.getUint32(record + 16, true) !== 0 || view.getUint32(record + 20, true) !== 0;
    count = readUint64(view, record + 32);
    directorySize = readUint64(view, record + 40);
    directoryStart = readUint64(view, record + 48);
    directoryLimit = record;
  } else if (count === U16_SATURATED || directorySize === U32_SATURATED || directoryStart === U32_SATURATED) {
    corrupt(prefix, 'the zip64 end-of-central-directory locator is missing');
  }
  if (multiDisk) corrupt(prefix, 'split (multi-disk) archives are not supported');
  const directoryEnd = directoryStart + directorySize;
  if (directoryEnd > directoryLimit) {
    corrupt(prefix, 'the central directory lies outside the archive (the file is truncated)');
  }
  return { count, directoryStart, directoryEnd };
}

interface EntrySizes {
  uncompressedSize: number;
  compressedSize: number;
  localHeaderOffset: number;
  diskStart: number;
}

/**
 * Replaces the saturated fields of a central directory entry with their zip64 values. The zip64 extra field holds
 * exactly the saturated ones, in this order: uncompressed size, compressed size, local header offset, disk.
 */
function applyZip64Extra(
  view: DataView,
  start: number,
  length: number,
  sizes: EntrySizes,
  invalid: () => never,
): EntrySizes {
  const saturated = {
    uncompressedSize: sizes.uncompressedSize === U32_SATURATED,
    compressedSize: sizes.compressedSize === U32_SATURATED,
    localHeaderOffset: sizes.localHeaderOffset === U32_SATURATED,
    diskStart: sizes.diskStart === U16_SATURATED,
  };
  if (!Object.values(saturated).some(Boolean)) return sizes;
  for (let p = start; p + 4 <= start + length;) {
    const id = view.getUint16(p, true);
    const size = view.getUint16(p + 2, true);
    const fieldEnd = p + 4 + size;
    if (fieldEnd > start + length) break;
    if (id === ZIP64_EXTRA_ID) {
      const result = { ...sizes };
      let q = p + 4;
      for (const key of ['uncompressedSize', 'compressedSize', 'localHeaderOffset'] as const) {
        if (!saturated[key]) continue;
        if (q + 8 > fieldEnd) invalid();
        result[key] = readUint64(view, q);
        q += 8;
      }
      if (saturated.diskStart) {
        if (q + 4 > fieldEnd) invalid();
        result.diskStart = view.getUint32(q, true);
      }
      return result;
    }
    p = fieldEnd;
  }
  return invalid();
}

/** The span of an entry's data, after its local header, which must lie before the central directory. */
function locateData(
  view: DataView,
  offset: number,
  compressedSize: number,
  directoryStart: number,
  name: string,
  prefix: string,
): { dataStart: number; dataEnd: number } {
  if (offset + LOCAL_HEADER_BYTES > directoryStart || view.getUint32(offset, true) !== SIG_LOCAL_HEADER) {
    corrupt(prefix, `the local header of entry ${name} is missing or out of range`);
  }
  const dataStart =
    offset + LOCAL_HEADER_BYTES + view.getUint16(offset + 26, true) + view.getUint16(offset + 28, true);
  const dataEnd = dataStart + compressedSize;
  if (dataEnd > directoryStart) corrupt(prefix, `the data of entry ${name} runs past the end of the archive`);
  return { dataStart, dataEnd };
}

/** A little-endian uint64 as a number; values past 2^53 lose precision but are then far out of any range checked. */
function readUint64(view: DataView, offset: number): number {
  return Number(view.getBigUint64(offset, true));
}

/**
 * An entry's uncompressed bytes, checked against its declared size and CRC-32.
 *
 * Deflated entries are inflated by node's zlib with `maxOutputLength` set to what is left of the archive's budget:
 * zlib counts the bytes it actually produces and stops within one 16 KiB chunk of the limit, whatever the headers
 * claim. fflate's streaming `Inflate` fed in slices would bound the output too, but is 20-70x slower on
 * attacker-chosen input (about 14 MB/s on maximally compressed zeros, cold), i.e. a minute of CPU for a 1 GiB budget.
 *
 * @param remaining - bytes left in the budget; more output throws `tooLarge()`.
 */
function extract(
  bytes: Uint8Array,
  entry: ZipEntry,
  remaining: number,
  tooLarge: () => EngineError,
  prefix: string,
): Uint8Array {
  const entryCorrupt = (why: string): never => {
    throw new EngineError('invalid_array', `${prefix}entry ${entry.name} is corrupt (${why})`, {
      entry: entry.name,
    });
  };
  if (entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) || entry.method === METHOD_AES) {
    throw new EngineError(
      'invalid_array',
      `${prefix}entry ${entry.name} is encrypted; save the archive without a password`,
    );
  }
  const compressed = bytes.subarray(entry.dataStart, entry.dataEnd);

  let data: Uint8Array;
  if (entry.method === METHOD_STORED) {
    data = compressed;
  } else if (entry.method === METHOD_DEFLATE) {
    try {
      // zlib requires 1 <= maxOutputLength <= buffer.constants.MAX_LENGTH; the check below covers the clamping.
      const maxOutputLength = Math.max(1, Math.min(remaining, buffer.constants.MAX_LENGTH));
      data = zlib.inflateRawSync(compressed, { maxOutputLength });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
      return entryCorrupt(`bad deflate data: ${(e as Error).message}`);
    }
  } else {
    const known = METHOD_NAMES[entry.method];
    throw new EngineError(
      'invalid_array',
      `${prefix}entry ${entry.name}: unknown compression type ${entry.method}${known ? ` (${known})` : ''}; only stored and deflated entries (np.savez, np.savez_compressed) are supported`,
    );
  }

  if (data.length > remaining) throw tooLarge();
  if (data.length !== entry.uncompressedSize) {
    entryCorrupt(`its header says ${entry.uncompressedSize} bytes, it holds ${data.length}`);
  }
  if (crc32(data) !== entry.crc32) entryCorrupt('CRC mismatch');
  return data;
}

/** CRC-32 (ISO-HDLC, as zip uses): node's native one where present (Node >= 20.15), else a table-driven one. */
const crc32: (data: Uint8Array) => number = typeof zlib.crc32 === 'function' ? zlib.crc32 : tableCrc32;

let crcTable: Int32Array | undefined;

function tableCrc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let crc = -1;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
