/**
 * Turning uploads into stored, checked bundles. Everything that can be checked without a model (datasets) or
 * without data (models) is checked here, so a mistake is a 4xx at upload rather than a failed job later. Bundles
 * are content-addressed: the same bytes give the same id.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path/posix';
import { EngineError } from '../engine/errors.js';
import { encodeNpy } from '../engine/data/npy.js';
import type { Batch } from '../engine/data/decode.js';
import { elementAt, type NdArray } from '../engine/ndarray.js';
import { inspectModel } from '../engine/validate.js';
import {
  ARRAY_FILE,
  INPUTS_FILE,
  manifestPaths,
  MODEL_JSON_FILE,
  shardFileName,
  TARGETS_FILE,
} from '../storage/bundles.js';
import type { Services } from './services.js';
import type { ArrayRecord } from './schemas/arrays.js';
import type { DatasetRecord } from './schemas/datasets.js';
import type { ModelRecord } from './schemas/models.js';
import type { UploadedPart } from './multipart.js';
import { unprocessable } from './problem.js';

/** sha256 over length-prefixed parts, so ("ab","c") and ("a","bc") differ. */
function contentHash(parts: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(p.byteLength));
    h.update(len).update(p);
  }
  return h.digest('hex');
}

/** Ids are a prefix of the content hash: 128 bits is plenty against accidental collisions. */
const idFromHash = (sha: string): string => sha.slice(0, 32);

interface Stored<T> {
  record: T;
  created: boolean;
}

/**
 * Stores bundle files and a record unless the same content is already there, in which case the existing record is
 * returned (and its expiry extended).
 */
async function storeOnce<T extends { id: string; createdAt: string }>(
  svc: Services,
  kind: 'models' | 'datasets' | 'arrays',
  record: T,
  files: ReadonlyArray<readonly [string, Uint8Array]>,
): Promise<Stored<T>> {
  const ttl = svc.config.uploadTtlSeconds;
  const existing = await svc.meta.get<T>(kind, record.id);
  if (existing && (await svc.store.hasBundle(kind, record.id))) {
    await svc.meta.touch(kind, record.id, ttl);
    return { record: existing, created: false };
  }
  await svc.store.putBundle(kind, record.id, files);
  await svc.meta.put(kind, record, ttl);
  return { record, created: true };
}

/** Checks and stores a TF.js Layers model (model.json plus its weight shards). */
export async function storeModel(svc: Services, parts: UploadedPart[]): Promise<Stored<ModelRecord>> {
  const modelParts = parts.filter((p) => p.field === 'model');
  if (modelParts.length !== 1) {
    throw unprocessable(
      'invalid_model',
      `send exactly one "model" part holding model.json (got ${modelParts.length})`,
    );
  }
  const modelBytes = modelParts[0].bytes;
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(Buffer.from(modelBytes).toString('utf8'));
  } catch (e) {
    throw unprocessable('invalid_model', `model.json is not valid JSON: ${(e as Error).message}`);
  }
  const paths = manifestPaths(modelJson);
  const weightParts = parts.filter((p) => p.field === 'weights');
  const used = new Set<UploadedPart>();
  const weights = new Map<string, Uint8Array>();
  const shards: Uint8Array[] = [];
  for (const path of paths) {
    // Browsers and curl send the base name only; the manifest may hold a relative path.
    const part =
      weightParts.find((p) => p.filename === path) ?? weightParts.find((p) => p.filename === basename(path));
    if (!part) {
      throw new EngineError(
        'missing_weights',
        `model.json's weightsManifest lists "${path}" but no "weights" part has that filename; upload each shard as -F 'weights=@${basename(path)}'`,
        { missing: path, received: weightParts.map((p) => p.filename) },
      );
    }
    used.add(part);
    weights.set(path, part.bytes);
    shards.push(part.bytes);
  }
  const extra = weightParts.filter((p) => !used.has(p));
  if (extra.length > 0) {
    throw new EngineError(
      'invalid_model',
      `weights part(s) ${extra.map((p) => JSON.stringify(p.filename)).join(', ')} are not listed in model.json's weightsManifest (${paths.join(', ')})`,
    );
  }
  const summary = inspectModel({ modelJson, weights });
  const sha256 = contentHash([modelBytes, ...shards]);
  const record: ModelRecord = {
    id: idFromHash(sha256),
    sha256,
    numParams: summary.numParams,
    parameters: summary.parameters.map((p) => ({ name: p.name, shape: p.shape, size: p.size })),
    inputShape: summary.inputShape,
    outputShape: summary.outputShape,
    layers: summary.layers,
    bytes: modelBytes.byteLength + shards.reduce((n, s) => n + s.byteLength, 0),
    createdAt: new Date().toISOString(),
  };
  return storeOnce(svc, 'models', record, [
    [MODEL_JSON_FILE, modelBytes],
    ...shards.map((s, i) => [shardFileName(i), s] as const),
  ]);
}

/** The first non-finite value of an array, reported with its position. */
function checkFinite(a: NdArray, name: string): void {
  if (a.dtype !== 'float32' && a.dtype !== 'float64') return;
  for (let i = 0; i < a.data.length; i++) {
    const v = elementAt(a, i);
    if (!Number.isFinite(v)) {
      throw new EngineError(
        'invalid_array',
        `${name} holds ${v} at flat index ${i}; every value must be finite`,
        {
          array: name,
          index: i,
        },
      );
    }
  }
}

/** Checks a batch in itself (matching example counts, finite values) and stores it as two .npy files. */
export async function storeDataset(svc: Services, batch: Batch): Promise<Stored<DatasetRecord>> {
  const { inputs, targets } = batch;
  if (inputs.shape.length === 0 || targets.shape.length === 0) {
    throw new EngineError('invalid_batch', 'inputs and targets need a leading example axis (got a scalar)');
  }
  if (inputs.shape[0] !== targets.shape[0]) {
    throw new EngineError(
      'invalid_batch',
      `inputs has ${inputs.shape[0]} examples but targets has ${targets.shape[0]}; both need the same first dimension`,
    );
  }
  if (inputs.shape[0] === 0) throw new EngineError('invalid_batch', 'the batch is empty (0 examples)');
  checkFinite(inputs, 'inputs');
  checkFinite(targets, 'targets');
  const inputsNpy = encodeNpy(inputs);
  const targetsNpy = encodeNpy(targets);
  const sha256 = contentHash([inputsNpy, targetsNpy]);
  const record: DatasetRecord = {
    id: idFromHash(sha256),
    sha256,
    numExamples: inputs.shape[0],
    inputs: { shape: inputs.shape, dtype: inputs.dtype },
    targets: { shape: targets.shape, dtype: targets.dtype },
    bytes: inputsNpy.byteLength + targetsNpy.byteLength,
    createdAt: new Date().toISOString(),
  };
  return storeOnce(svc, 'datasets', record, [
    [INPUTS_FILE, inputsNpy],
    [TARGETS_FILE, targetsNpy],
  ]);
}

/** Stores a standalone array (e.g. k×P vectors). */
export async function storeArray(svc: Services, array: NdArray): Promise<Stored<ArrayRecord>> {
  checkFinite(array, 'array');
  const npy = encodeNpy(array);
  const sha256 = contentHash([npy]);
  const record: ArrayRecord = {
    id: idFromHash(sha256),
    sha256,
    shape: array.shape,
    dtype: array.dtype,
    bytes: npy.byteLength,
    createdAt: new Date().toISOString(),
  };
  return storeOnce(svc, 'arrays', record, [[ARRAY_FILE, npy]]);
}
