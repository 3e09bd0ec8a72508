/**
 * From uploaded or on-disk bytes to arrays: picks the format (.npy, .npz, .json) and, for a batch, finds the
 * inputs and targets (named `inputs`/`targets`, or `x`/`y`). Shape and value checks are in `batch-checks.ts`.
 */
import { EngineError } from '../errors.js';
import type { NdArray } from '../ndarray.js';
import type { ArrayGroup } from './array-group.js';
import { parseJsonArray, type JsonArrayOptions } from './json-array.js';
import { parseNpy } from './npy.js';
import { parseNpz, type NpzOptions } from './npz.js';

/** A batch as decoded, before it is checked against a model. */
export interface Batch {
  inputs: ArrayGroup;
  targets: ArrayGroup;
}

/** One uploaded or on-disk file. */
export interface ArrayFile {
  bytes: Uint8Array;
  filename: string;
}

export type DecodeOptions = NpzOptions & Pick<JsonArrayOptions, 'dtype'>;

type Format = 'npy' | 'npz' | 'json';

/** The names a batch's two arrays may have, in order of preference. */
const BATCH_NAME_PAIRS = [
  ['inputs', 'targets'],
  ['x', 'y'],
] as const;

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/**
 * Decodes one array file. The extension decides (`.npy`, `.npz`, `.json`); without a known extension the content
 * is sniffed (NumPy magic, zip magic, or JSON text). An `.npz` must hold exactly one array.
 *
 * @throws EngineError('invalid_array') for an unrecognised or malformed file (the message names the file).
 */
export function decodeArrayFile(bytes: Uint8Array, filename: string, options: DecodeOptions = {}): NdArray {
  switch (detectFormat(bytes, filename)) {
    case 'npy':
      return parseNpy(bytes, filename);
    case 'npz': {
      const arrays = parseNpz(bytes, filename, options);
      if (arrays.size !== 1) {
        throw new EngineError(
          'invalid_array',
          `${filename}: expected an archive holding one array, found ${arrays.size} (${listNames(arrays.keys())}); pass a single .npy instead`,
          { arrays: [...arrays.keys()] },
        );
      }
      return arrays.values().next().value!;
    }
    case 'json': {
      const value = parseJsonText(bytes, filename);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        throw new EngineError(
          'invalid_array',
          `${filename}: holds a JSON object (keys ${listNames(Object.keys(value))}); expected a nested array of numbers`,
        );
      }
      return parseJsonArray(value, filename, options);
    }
  }
}

/**
 * Decodes one file of a batch's inputs or targets: as `decodeArrayFile`, but an `.npz` archive holding several
 * arrays gives them by name (one per model input or output).
 */
export function decodeArrayGroupFile(
  bytes: Uint8Array,
  filename: string,
  options: DecodeOptions = {},
): ArrayGroup {
  if (detectFormat(bytes, filename) === 'npz') {
    const arrays = parseNpz(bytes, filename, options);
    return arrays.size === 1 ? arrays.values().next().value! : arrays;
  }
  return decodeArrayFile(bytes, filename, options);
}

/**
 * A batch from arrays by name: `inputs` and `targets` (or `x` and `y`), or for models with several inputs or outputs
 * `inputs.<input name>` and `targets.<output name>` (either role may be single or named).
 * @throws EngineError('invalid_batch') when a role is missing, or given both ways
 */
export function batchFromNamedArrays(arrays: ReadonlyMap<string, NdArray>, source: string): Batch {
  const named = (what: 'inputs' | 'targets') => {
    const group = new Map<string, NdArray>();
    for (const [key, array] of arrays) {
      if (key.startsWith(`${what}.`) && key.length > what.length + 1)
        group.set(key.slice(what.length + 1), array);
    }
    return group;
  };
  const namedInputs = named('inputs');
  const namedTargets = named('targets');
  if (namedInputs.size === 0 && namedTargets.size === 0) {
    const [inputsName, targetsName] = pickBatchNames([...arrays.keys()], source);
    return { inputs: arrays.get(inputsName)!, targets: arrays.get(targetsName)! };
  }
  const pick = (what: 'inputs' | 'targets', group: Map<string, NdArray>): ArrayGroup => {
    const single = arrays.get(what);
    if (single && group.size > 0) {
      throw new EngineError(
        'invalid_batch',
        `${source}: holds both '${what}' and '${what}.<name>' arrays; send one or the other`,
      );
    }
    if (single) return single;
    if (group.size > 0) return group;
    throw new EngineError(
      'invalid_batch',
      `${source}: no ${what}: expected '${what}' or '${what}.<name>' arrays, found ${listNames(arrays.keys())}`,
      { found: [...arrays.keys()].slice(0, MAX_LISTED_NAMES) },
    );
  };
  return { inputs: pick('inputs', namedInputs), targets: pick('targets', namedTargets) };
}

/**
 * Decodes a batch from an `.npz` archive holding `inputs` and `targets` (or `x` and `y`), or `inputs.<name>` and
 * `targets.<name>` arrays for a model with several inputs or outputs.
 *
 * @throws EngineError('invalid_array') for a malformed archive; EngineError('invalid_batch') when the expected
 *   arrays are missing (the message lists the names found).
 */
export function decodeBatchFromNpz(
  bytes: Uint8Array,
  filename = 'batch.npz',
  options: DecodeOptions = {},
): Batch {
  return batchFromNamedArrays(parseNpz(bytes, filename, options), filename);
}

/** Decodes a batch given as two files (each `.npy`, `.json`, or an `.npz` of one array or of arrays by name). */
export function decodeBatchFromFiles(
  inputs: ArrayFile,
  targets: ArrayFile,
  options: DecodeOptions = {},
): Batch {
  return {
    inputs: decodeArrayGroupFile(inputs.bytes, inputs.filename, options),
    targets: decodeArrayGroupFile(targets.bytes, targets.filename, options),
  };
}

/**
 * Decodes a batch from a parsed JSON object `{ "inputs": [...], "targets": [...] }` (or `x`/`y`).
 *
 * @param name - what the object is called in error messages (e.g. the request field or file name).
 * @throws EngineError('invalid_batch') when it is not such an object; EngineError('invalid_array') for a
 *   malformed array (the message gives the position).
 */
export function decodeBatchFromJson(value: unknown, name = 'batch', options: DecodeOptions = {}): Batch {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EngineError(
      'invalid_batch',
      `${name}: expected a JSON object {"inputs": [...], "targets": [...]}, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`,
    );
  }
  const record = value as Record<string, unknown>;
  const arrays = new Map<string, NdArray>();
  for (const key of Object.keys(record)) {
    if (/^(inputs|targets|x|y)$|^(inputs|targets)\../.test(key)) {
      arrays.set(key, parseJsonArray(record[key], key, options));
    }
  }
  return batchFromNamedArrays(arrays, name);
}

/**
 * Decodes a batch held in one file: an `.npz` archive, or a `.json` object with `inputs` and `targets`.
 *
 * @throws EngineError('invalid_batch') for a single `.npy` (a batch needs two arrays) or missing arrays.
 */
export function decodeBatchFile(bytes: Uint8Array, filename: string, options: DecodeOptions = {}): Batch {
  switch (detectFormat(bytes, filename)) {
    case 'npz':
      return decodeBatchFromNpz(bytes, filename, options);
    case 'json':
      return decodeBatchFromJson(parseJsonText(bytes, filename), filename, options);
    case 'npy':
      throw new EngineError(
        'invalid_batch',
        `${filename}: a .npy file holds one array, but a batch needs inputs and targets; pass them as two .npy files or save both with np.savez(f, inputs=x, targets=y)`,
      );
  }
}

function detectFormat(bytes: Uint8Array, filename: string): Format {
  const extension = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase();
  if (extension === 'npy' || extension === 'npz' || extension === 'json') return extension;
  if (startsWith(bytes, NPY_MAGIC)) return 'npy';
  if (startsWith(bytes, ZIP_MAGIC)) return 'npz';
  const firstChar = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart()[0];
  if (firstChar !== undefined && /[[{\-0-9]/.test(firstChar)) return 'json';
  throw new EngineError(
    'invalid_array',
    `${filename}: unrecognised file format; expected a NumPy .npy, an .npz archive or a JSON array`,
  );
}

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/**
 * JSON text to a value. V8's JSON.parse is iterative, so even a 100 000-deep nesting parses in linear time without
 * overflowing the stack; the depth is then bounded by `parseJsonArray`, whose walk is the recursive one.
 */
function parseJsonText(bytes: Uint8Array, filename: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new EngineError('invalid_array', `${filename}: not valid JSON (${(e as Error).message})`);
  }
}

function pickBatchNames(names: string[], source: string): readonly [string, string] {
  const pair = BATCH_NAME_PAIRS.find(([i, t]) => names.includes(i) && names.includes(t));
  if (pair) return pair;
  throw new EngineError(
    'invalid_batch',
    `${source}: expected arrays named 'inputs' and 'targets' (or 'x' and 'y'), found ${names.length ? listNames(names) : 'none'}; e.g. np.savez(f, inputs=x, targets=y)`,
    { found: names.slice(0, MAX_LISTED_NAMES) },
  );
}

/** Names shown in a message: a JSON object can have any number of keys, and the message echoes them. */
const MAX_LISTED_NAMES = 10;

function listNames(names: Iterable<string>): string {
  const all = [...names];
  const listed = all.slice(0, MAX_LISTED_NAMES).map((n) => `'${n.length > 40 ? n.slice(0, 40) + '…' : n}'`);
  return all.length > MAX_LISTED_NAMES
    ? `${listed.join(', ')} and ${all.length - MAX_LISTED_NAMES} more`
    : listed.join(', ');
}
