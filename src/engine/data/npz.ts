/**
 * NumPy `.npz` archives: a zip of `.npy` files, as written by `np.savez` (stored) and `np.savez_compressed`
 * (deflated). numpy marks even small entries as zip64 in their local headers; fflate reads sizes from the central
 * directory (zip64 aware), so both forms are handled.
 */
import { unzipSync } from 'fflate';
import { EngineError } from '../errors.js';
import type { NdArray } from '../ndarray.js';
import { parseNpy } from './npy.js';

/** Options for {@link parseNpz}. */
export interface NpzOptions {
  /**
   * Refuse archives whose entries would expand beyond this many bytes in total, before inflating anything, so a
   * small deflated upload cannot exhaust memory.
   * @defaultValue 1 GiB
   */
  maxUncompressedBytes?: number;
}

const DEFAULT_MAX_UNCOMPRESSED_BYTES = 1024 ** 3;
const ZIP_MAGIC = [0x50, 0x4b]; // "PK"
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/**
 * Parses a `.npz` archive into its arrays, keyed like `np.load` keys them (entry name without `.npy`).
 * Directory entries and entries that are not `.npy` files (e.g. a stray README, macOS `__MACOSX/` metadata) are
 * skipped, so the caller sees only arrays.
 *
 * @param bytes - the whole archive.
 * @param name - optional name (e.g. the file name) that prefixes error messages.
 * @throws EngineError('invalid_array') when the bytes are not a zip archive, use a compression other than
 *   stored/deflate, or contain an invalid `.npy` entry (the message names the entry).
 * @throws EngineError('too_large') when the entries would expand beyond `maxUncompressedBytes`.
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

  let total = 0;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (file) => {
        if (!isArrayEntry(file.name)) return false;
        total += file.originalSize;
        if (total > limit) {
          throw new EngineError(
            'too_large',
            `${prefix}the arrays in this archive expand to more than ${limit} bytes (the limit)`,
            { limit },
          );
        }
        return true;
      },
    });
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError(
      'invalid_array',
      `${prefix}not a valid .npz (zip) archive: ${(e as Error).message}`,
    );
  }

  const arrays = new Map<string, NdArray>();
  for (const [entry, data] of Object.entries(entries)) {
    const key = entry.slice(0, -'.npy'.length);
    arrays.set(key, parseNpy(data, `${prefix}${entry}`));
  }
  return arrays;
}

function isArrayEntry(entry: string): boolean {
  return entry.endsWith('.npy') && !entry.startsWith('__MACOSX/');
}
