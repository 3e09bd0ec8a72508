/**
 * Decodes model.json's `weightsManifest` against the shard bytes held in memory (tf-free). Each group's shards
 * are concatenated in order and cut into weights in manifest order, as TF.js does.
 */
import { EngineError } from '../errors.js';
import { sizeOf } from '../ndarray.js';

export interface ManifestWeight {
  /** The name as written in the manifest, e.g. `dense_Dense1/kernel`. */
  name: string;
  shape: number[];
  /** float32 values; undefined when the weight is stored in another dtype or quantized (see `storage`). */
  values?: Float32Array;
  /** How the weight is stored, for error messages: `float32`, `int32`, `uint8-quantized`, ... */
  storage: string;
}

const BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  float16: 2,
  uint16: 2,
  int16: 2,
  uint8: 1,
  bool: 1,
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The shard paths model.json's `weightsManifest` names, in manifest order: the one walk over the manifest's paths,
 * shared by the engine, the upload check, the store and the CLI.
 * @throws EngineError('invalid_model') for a manifest that is not a list of groups with string `paths`
 */
export function manifestShardPaths(modelJson: unknown): string[] {
  const manifest = isObject(modelJson) ? modelJson.weightsManifest : undefined;
  if (manifest === undefined || manifest === null) return [];
  if (!Array.isArray(manifest)) {
    throw new EngineError('invalid_model', 'weightsManifest is not a list of groups.');
  }
  return manifest.flatMap((group, g) => {
    if (!isObject(group) || !Array.isArray(group.paths)) {
      throw new EngineError('invalid_model', `weightsManifest group ${g} needs a "paths" list.`);
    }
    return (group.paths as unknown[]).map((path) => {
      if (typeof path !== 'string') {
        throw new EngineError('invalid_model', `weightsManifest group ${g} has a non-string path.`);
      }
      return path;
    });
  });
}

/** The error for a shard the manifest names but nobody supplied (one message for the API, the CLI and the engine). */
export function missingShard(path: string, received: readonly string[]): EngineError {
  const file = basename(path);
  return new EngineError(
    'missing_weights',
    `Weight shard "${path}" is missing: upload the file "${file}" with model.json ` +
      `(over HTTP as a "weights" part: -F 'weights=@${file}'; on the CLI, next to model.json).`,
    { path, expectedFile: file, received: [...received] },
  );
}

const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Finds a shard by its manifest path, tolerating a leading `./` or a directory prefix on either side. */
function findShard(weights: Map<string, Uint8Array>, path: string): Uint8Array | undefined {
  const candidates = [path, path.replace(/^\.\//, ''), basename(path)];
  for (const key of candidates) {
    const hit = weights.get(key);
    if (hit) return hit;
  }
  const wanted = basename(path);
  for (const [key, bytes] of weights) if (basename(key) === wanted) return bytes;
  return undefined;
}

interface SpecEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantized?: string;
  optimizer: boolean;
}

function readSpec(entry: unknown, group: number): SpecEntry {
  if (!isObject(entry) || typeof entry.name !== 'string' || !Array.isArray(entry.shape)) {
    throw new EngineError(
      'invalid_model',
      `weightsManifest group ${group} has an entry without a name or shape.`,
    );
  }
  const shape = entry.shape as unknown[];
  if (shape.some((d) => !Number.isInteger(d) || (d as number) < 0)) {
    throw new EngineError(
      'invalid_model',
      `Weight "${entry.name}" has an invalid shape ${JSON.stringify(shape)}.`,
    );
  }
  const quantization = isObject(entry.quantization) ? entry.quantization : undefined;
  return {
    name: entry.name,
    shape: shape as number[],
    dtype: typeof entry.dtype === 'string' ? entry.dtype : 'float32',
    quantized: quantization && typeof quantization.dtype === 'string' ? quantization.dtype : undefined,
    optimizer: entry.group === 'optimizer',
  };
}

function byteLength(spec: SpecEntry): number {
  const bytes = BYTES[spec.quantized ?? spec.dtype];
  if (bytes === undefined) {
    throw new EngineError(
      'invalid_model',
      `Weight "${spec.name}" has dtype ${spec.quantized ?? spec.dtype}; only float32 weights are supported.`,
    );
  }
  return sizeOf(spec.shape) * bytes;
}

/**
 * Decodes every model weight of the manifest (optimizer weights are skipped).
 * @throws EngineError('missing_weights') naming a missing shard and the file expected;
 *   EngineError('invalid_model') for a malformed manifest or a group whose bytes do not match its manifest
 */
export function decodeWeightsManifest(manifest: unknown, weights: Map<string, Uint8Array>): ManifestWeight[] {
  if (manifest === undefined || manifest === null) return [];
  if (!Array.isArray(manifest))
    throw new EngineError('invalid_model', 'weightsManifest is not a list of groups.');
  const out: ManifestWeight[] = [];
  manifest.forEach((group, g) => {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new EngineError('invalid_model', `weightsManifest group ${g} needs "paths" and "weights" lists.`);
    }
    const paths = group.paths as unknown[];
    const shards = paths.map((path) => {
      if (typeof path !== 'string')
        throw new EngineError('invalid_model', `weightsManifest group ${g} has a non-string path.`);
      const shard = findShard(weights, path);
      if (!shard) throw missingShard(path, [...weights.keys()]);
      return shard;
    });
    const specs = group.weights.map((entry) => readSpec(entry, g));
    const expected = specs.reduce((total, spec) => total + byteLength(spec), 0);
    const got = shards.reduce((total, shard) => total + shard.byteLength, 0);
    if (expected !== got) {
      throw new EngineError(
        'invalid_model',
        `Weight group ${g} (${paths.join(', ')}) holds ${got} bytes but its manifest describes ${expected} bytes ` +
          `(${specs.length} weights); the shard files do not belong to this model.json or are truncated.`,
        { group: g, paths, expectedBytes: expected, gotBytes: got },
      );
    }
    const data = new Uint8Array(got);
    let offset = 0;
    for (const shard of shards) {
      data.set(shard, offset);
      offset += shard.byteLength;
    }
    offset = 0;
    for (const spec of specs) {
      const length = byteLength(spec);
      if (!spec.optimizer) {
        const storage = spec.quantized ? `${spec.quantized}-quantized` : spec.dtype;
        // Copy: shard offsets need not be 4-byte aligned, and the values must outlive the caller's buffers.
        const values =
          storage === 'float32' ? new Float32Array(data.slice(offset, offset + length).buffer) : undefined;
        out.push({ name: spec.name, shape: spec.shape, values, storage });
      }
      offset += length;
    }
  });
  return out;
}
