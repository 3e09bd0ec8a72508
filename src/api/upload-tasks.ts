/**
 * The CPU-heavy half of an upload or a submission, run in a worker thread (see `plugins/upload-decoder.ts`) so no
 * request blocks the API's event loop: decoding `.npy`/`.npz`/JSON, the finiteness and shape checks, parsing and
 * checking a model, canonical `.npy` encoding and content hashing, and the engine's pre-flight check of a job
 * against its stored uploads. Everything here is pure (no Redis, no writes); the main thread stores the result.
 *
 * Errors cross the thread boundary as plain data ({@link TaskFailure}) and are rebuilt as EngineErrors, because a
 * thrown error loses its class and fields on the way.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path/posix';
import { checkFinite } from '../contract/data/batch-checks.js';
import {
  batchFromNamedArrays,
  decodeArrayFile,
  decodeBatchFromFiles,
  decodeBatchFromNpz,
  type Batch,
} from '../contract/data/decode.js';
import { encodeNpyParts } from '../contract/data/npy.js';
import { scanJsonArrays } from '../contract/data/json-scan.js';
import { EngineError, isEngineError, type EngineErrorCode } from '../contract/errors.js';
import type { NdArray } from '../contract/ndarray.js';
import { arrayLabel, isNamed, type ArrayGroup } from '../contract/data/array-group.js';
import { validateRequest, type NormalizedMethodSpec } from '../contract/request.js';
import type { LossSpecInput, MethodSpecInput, ParameterSelection } from '../contract/request-schema.js';
import { splitsByDataset, splitUnits } from '../contract/sharding.js';
import { inspectModel, type ModelSummary } from '../contract/inspect-model.js';
import { manifestShardPaths, missingShard } from '../contract/model/weights-manifest.js';
import { looksLikeOnnx } from '../contract/onnx/onnx-proto.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import { createArtifactStore, type StorageSpec } from '../storage/create-store.js';
import {
  ARRAY_FILE,
  BATCH_NAMES_FILE,
  INPUTS_FILE,
  namedArrayFile,
  type BatchNames,
  loadArray,
  loadDatasets,
  loadModelArtifacts,
  MODEL_JSON_FILE,
  MODEL_ONNX_FILE,
  shardFileName,
  TARGETS_FILE,
} from '../storage/bundles.js';
import { computeArtifactPreview, type ArtifactPreview, type PreviewTask } from './preview/task.js';

/** One file part of a multipart upload. */
export interface UploadedPart {
  field: string;
  /** The client's file name: compared with manifest paths and used for format detection, never as a path. */
  filename: string;
  bytes: Uint8Array;
}

/** A checked upload, ready to store: its files (canonical bytes) and what its record says about them. */
export interface PreparedBundle<Info> {
  /** sha256 over the stored files (length-prefixed), independent of who uploaded them. */
  sha256: string;
  info: Info;
  /** Each file as consecutive pieces (a `.npy` header, then a view of the array's data), never concatenated. */
  files: [string, Uint8Array[]][];
}

export interface ModelInfo {
  numParams: number;
  parameters: { name: string; shape: number[]; size: number }[];
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  inputs: { name: string; shape: (number | null)[]; dtype: string }[];
  outputs: { name: string; shape: (number | null)[] }[];
  layers: { name: string; className: string }[];
  bytes: number;
}

export interface DatasetInfo {
  numExamples: number;
  /** Of a single inputs (targets) array; absent when they are named. */
  inputs?: { shape: number[]; dtype: string };
  targets?: { shape: number[]; dtype: string };
  /** Every array: `inputs` and `targets`, or `inputs.<name>` and `targets.<name>` for named ones. */
  arrays: { name: string; shape: number[]; dtype: string }[];
  bytes: number;
}

export interface ArrayInfo {
  shape: number[];
  dtype: string;
  bytes: number;
}

/** The engine-level part of a job request, checked against the stored uploads before queuing. */
export interface JobCheck {
  modelId: string;
  /** The datasets whose examples form the batch, in order (one, or a request's `datasetIds`). */
  datasetIds: string[];
  vectorsId?: string;
  loss: LossSpecInput;
  method: MethodSpecInput;
  parameters?: ParameterSelection;
  seed?: number;
}

export type UploadTask =
  | { kind: 'model'; parts: UploadedPart[] }
  | { kind: 'dataset-parts'; parts: UploadedPart[]; maxBytes: number }
  | { kind: 'dataset-json'; body: Uint8Array; maxBytes: number }
  | { kind: 'array-parts'; parts: UploadedPart[]; maxBytes: number }
  | { kind: 'array-json'; body: Uint8Array; maxBytes: number }
  | { kind: 'check-job'; storage: StorageSpec; job: JobCheck; maxDenseBytes: number }
  | PreviewTask;

export interface TaskFailure {
  failed: true;
  code: EngineErrorCode | 'invalid_upload' | 'upload_missing' | 'internal';
  message: string;
  details?: Record<string, unknown>;
}

/** The outcome of a job's pre-flight: the method spec as it will run (defaults that depend on P filled in). */
export interface CheckedJob {
  method: NormalizedMethodSpec;
  /** Independent units of its method (`splitUnits`), null when it never splits. */
  units: number | null;
  /** Whether its pieces may take disjoint datasets (`splitsByDataset`). */
  byDataset: boolean;
  /** Examples in each dataset, in order. */
  examples: number[];
}

export type TaskResult = PreparedBundle<ModelInfo | DatasetInfo | ArrayInfo> | CheckedJob | ArtifactPreview;

/** sha256 over length-prefixed files (each given as pieces), so ("ab","c") and ("a","bc") differ. */
function contentHash(files: readonly (readonly Uint8Array[])[]): string {
  const h = createHash('sha256');
  for (const pieces of files) {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(pieces.reduce((n, p) => n + p.byteLength, 0)));
    h.update(len);
    for (const p of pieces) h.update(p);
  }
  return h.digest('hex');
}

/** A `.npy` file as its header and a view of the array's bytes. */
function npyPieces(a: NdArray): Uint8Array[] {
  const { header, data } = encodeNpyParts(a);
  return [header, data];
}

const sizeOf = (pieces: readonly Uint8Array[]): number => pieces.reduce((n, p) => n + p.byteLength, 0);

/** Deepest nesting accepted in a model.json (converters write under 20 levels, nested sub-models a few more). */
const MAX_MODEL_JSON_DEPTH = 100;

/**
 * The nesting depth of JSON text, or `limit + 1` as soon as it is exceeded: one linear pass over the bytes that skips
 * strings, so a hostile document is refused before JSON.parse and every recursive walk after it.
 */
export function jsonDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return deepest;
}

/** An error the route turns into a 400 (the request's shape, not its content, is wrong). */
class UploadShapeError extends Error {}

function prepareModel(parts: UploadedPart[]): PreparedBundle<ModelInfo> {
  const modelParts = parts.filter((p) => p.field === 'model');
  if (modelParts.length !== 1) {
    throw new EngineError(
      'invalid_model',
      `send exactly one "model" part holding model.json (got ${modelParts.length})`,
    );
  }
  const modelBytes = modelParts[0].bytes;
  if (looksLikeOnnx(modelBytes)) return prepareOnnxModel(modelBytes, parts);
  const depth = jsonDepth(modelBytes, MAX_MODEL_JSON_DEPTH);
  if (depth > MAX_MODEL_JSON_DEPTH) {
    throw new EngineError(
      'invalid_model',
      `model.json is nested more than ${MAX_MODEL_JSON_DEPTH} levels deep; a TF.js Layers model needs far fewer`,
    );
  }
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(modelBytes));
  } catch (e) {
    throw new EngineError('invalid_model', `model.json is not valid JSON: ${(e as Error).message}`);
  }
  const paths = manifestShardPaths(modelJson);
  const weightParts = parts.filter((p) => p.field === 'weights');
  const used = new Set<UploadedPart>();
  const weights = new Map<string, Uint8Array>();
  const shards: Uint8Array[] = [];
  for (const path of paths) {
    // Browsers and curl send the base name only; the manifest may hold a relative path.
    const part =
      weightParts.find((p) => p.filename === path) ?? weightParts.find((p) => p.filename === basename(path));
    if (!part)
      throw missingShard(
        path,
        weightParts.map((p) => p.filename),
      );
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
  return {
    sha256: contentHash([[modelBytes], ...shards.map((s) => [s])]),
    info: modelInfo(summary, modelBytes.byteLength + shards.reduce((n, s) => n + s.byteLength, 0)),
    files: [
      [MODEL_JSON_FILE, [modelBytes]],
      ...shards.map((s, i) => [shardFileName(i), [s]] as [string, Uint8Array[]]),
    ],
  };
}

/** What the model record shows of a parsed model. */
function modelInfo(summary: ModelSummary, bytes: number): ModelInfo {
  const { numParams, parameters, inputShape, outputShape, inputs, outputs, layers } = summary;
  return {
    numParams,
    parameters: parameters.map((p) => ({ name: p.name, shape: p.shape, size: p.size })),
    inputShape,
    outputShape,
    inputs,
    outputs,
    layers,
    bytes,
  };
}

/** An ONNX model: the one `model` part is the whole model (weights inside), stored as `model.onnx`. */
function prepareOnnxModel(modelBytes: Uint8Array, parts: UploadedPart[]): PreparedBundle<ModelInfo> {
  const weightParts = parts.filter((p) => p.field === 'weights');
  if (weightParts.length > 0) {
    throw new EngineError(
      'invalid_model',
      `an ONNX model holds its weights; send it as the one "model" part, without "weights" parts (got ${weightParts.length})`,
    );
  }
  const summary = inspectModel({ modelJson: modelBytes, weights: new Map() });
  return {
    sha256: contentHash([[modelBytes]]),
    info: modelInfo(summary, modelBytes.byteLength),
    files: [[MODEL_ONNX_FILE, [modelBytes]]],
  };
}

function prepareDataset({ inputs, targets }: Batch): PreparedBundle<DatasetInfo> {
  const labelled = (group: ArrayGroup, what: 'inputs' | 'targets') =>
    isNamed(group)
      ? [...group].map(([name, array]) => ({ label: arrayLabel(what, name), array }))
      : [{ label: what, array: group }];
  const all = [...labelled(inputs, 'inputs'), ...labelled(targets, 'targets')];
  for (const { label, array } of all) {
    if (array.shape.length === 0) {
      throw new EngineError('invalid_batch', `${label} needs a leading example axis (got a scalar)`);
    }
  }
  const numExamples = all[0].array.shape[0];
  const other = all.find(({ array }) => array.shape[0] !== numExamples);
  if (other) {
    throw new EngineError(
      'invalid_batch',
      `${all[0].label} has ${numExamples} examples but ${other.label} has ${other.array.shape[0]}; all arrays need the same first dimension`,
    );
  }
  if (numExamples === 0) throw new EngineError('invalid_batch', 'the batch is empty (0 examples)');
  for (const { label, array } of all) {
    checkNotEmpty(array, label);
    checkFinite(array, label);
  }
  const files: [string, Uint8Array[]][] = [];
  const names: BatchNames = { inputs: null, targets: null };
  for (const [what, group] of [
    ['inputs', inputs],
    ['targets', targets],
  ] as const) {
    if (isNamed(group)) {
      names[what] = [...group.keys()];
      [...group.values()].forEach((array, i) => files.push([namedArrayFile(what, i), npyPieces(array)]));
    } else {
      files.push([what === 'inputs' ? INPUTS_FILE : TARGETS_FILE, npyPieces(group)]);
    }
  }
  if (names.inputs || names.targets) {
    files.push([BATCH_NAMES_FILE, [new TextEncoder().encode(JSON.stringify(names))]]);
  }
  const info = (a: NdArray) => ({ shape: a.shape, dtype: a.dtype });
  return {
    sha256: contentHash(files.map(([, pieces]) => pieces)),
    info: {
      numExamples,
      ...(isNamed(inputs) ? {} : { inputs: info(inputs) }),
      ...(isNamed(targets) ? {} : { targets: info(targets) }),
      arrays: all.map(({ label, array }) => ({ name: label, ...info(array) })),
      bytes: files.reduce((n, [, pieces]) => n + sizeOf(pieces), 0),
    },
    files,
  };
}

/** An array with no elements (shape (0,), or (0, 2**52)) is nothing to compute with, whatever its shape claims. */
function checkNotEmpty(a: NdArray, name: string): void {
  if (a.data.length === 0) {
    throw new EngineError('invalid_array', `${name} has shape (${a.shape.join(', ')}) and so no elements`);
  }
}

function prepareArray(array: NdArray): PreparedBundle<ArrayInfo> {
  checkNotEmpty(array, 'array');
  checkFinite(array, 'array');
  const npy = npyPieces(array);
  return {
    sha256: contentHash([npy]),
    info: { shape: array.shape, dtype: array.dtype, bytes: sizeOf(npy) },
    files: [[ARRAY_FILE, npy]],
  };
}

function datasetFromParts(parts: UploadedPart[], maxBytes: number): Batch {
  const by = (f: string) => parts.filter((p) => p.field === f);
  const [inputs, targets, npz] = [by('inputs'), by('targets'), by('npz')];
  const named = parts.filter((p) => /^(inputs|targets)\../.test(p.field));
  const options = { maxUncompressedBytes: maxBytes };
  if (npz.length === 1 && inputs.length === 0 && targets.length === 0 && named.length === 0) {
    return decodeBatchFromNpz(npz[0].bytes, npz[0].filename, options);
  }
  if (npz.length === 0 && inputs.length === 1 && targets.length === 1 && named.length === 0) {
    return decodeBatchFromFiles(inputs[0], targets[0], options);
  }
  if (npz.length === 0 && named.length > 0 && inputs.length <= 1 && targets.length <= 1) {
    const arrays = new Map<string, NdArray>();
    for (const part of [...inputs, ...targets, ...named]) {
      if (arrays.has(part.field)) throw new UploadShapeError(`part "${part.field}" appears twice`);
      arrays.set(part.field, decodeArrayFile(part.bytes, part.filename, options));
    }
    return batchFromNamedArrays(arrays, 'the upload');
  }
  throw new UploadShapeError(
    'send either one "inputs" and one "targets" part (.npy each; an .npz keyed by input or output names for ' +
      'models with several), parts "inputs.<input name>" and "targets.<output name>", or a single "npz" part',
  );
}

function datasetFromJson(body: Uint8Array, maxBytes: number): Batch {
  const arrays = scanJsonArrays(body, {
    name: 'body',
    keys: ['inputs', 'targets', 'inputs.*', 'targets.*'],
    maxElements: Math.ceil(maxBytes / 2),
    // Decoded arrays may take at most the upload limit: short numbers ("1,") would otherwise decode to 4x.
    maxOutputBytes: maxBytes,
  });
  return batchFromNamedArrays(arrays, 'the JSON body');
}

function arrayFromJson(body: Uint8Array, maxBytes: number): NdArray {
  const arrays = scanJsonArrays(body, {
    name: 'body',
    dtype: 'float32',
    maxElements: Math.ceil(maxBytes / 2),
    // Decoded arrays may take at most the upload limit: short numbers ("1,") would otherwise decode to 4x.
    maxOutputBytes: maxBytes,
  });
  const names = [...arrays.keys()];
  if (names.length !== 1 || !arrays.has('data')) {
    throw new UploadShapeError(
      `send a JSON body {"data": [[...], ...]} (got keys ${names.map((n) => JSON.stringify(n)).join(', ') || 'none'})`,
    );
  }
  const data = arrays.get('data')!;
  if (data.shape.length === 0 || data.shape[0] === 0) {
    throw new UploadShapeError('"data" must be a non-empty (nested) array of numbers');
  }
  return data;
}

/** One store per thread and spec (an S3 client keeps its connections between jobs). */
const stores = new Map<string, ArtifactStore>();
function storeFor(spec: StorageSpec): ArtifactStore {
  const key = JSON.stringify(spec);
  let store = stores.get(key);
  if (!store) stores.set(key, (store = createArtifactStore(spec)));
  return store;
}

async function checkJob(storage: StorageSpec, job: JobCheck, maxDenseBytes: number): Promise<CheckedJob> {
  const store = storeFor(storage);
  const { inputs, targets, examples } = await loadDatasets(store, job.datasetIds);
  const { method, numParams, vectors } = validateRequest(
    {
      model: await loadModelArtifacts(store, job.modelId),
      inputs,
      targets,
      loss: job.loss,
      method: job.method,
      parameters: job.parameters,
      vectors: job.vectorsId ? await loadArray(store, job.vectorsId) : undefined,
      seed: job.seed,
    },
    { maxDenseBytes },
  );
  return {
    method,
    units: splitUnits(method, numParams, vectors),
    byDataset: splitsByDataset(method),
    examples,
  };
}

async function run(task: UploadTask): Promise<TaskResult> {
  switch (task.kind) {
    case 'model':
      return prepareModel(task.parts);
    case 'dataset-parts':
      return prepareDataset(datasetFromParts(task.parts, task.maxBytes));
    case 'dataset-json':
      return prepareDataset(datasetFromJson(task.body, task.maxBytes));
    case 'array-parts': {
      if (task.parts.length !== 1) throw new UploadShapeError('send exactly one "array" part');
      const [part] = task.parts;
      return prepareArray(
        decodeArrayFile(part.bytes, part.filename, { maxUncompressedBytes: task.maxBytes }),
      );
    }
    case 'array-json':
      return prepareArray(arrayFromJson(task.body, task.maxBytes));
    case 'check-job':
      return checkJob(task.storage, task.job, task.maxDenseBytes);
    case 'job-preview':
      return computeArtifactPreview(task);
  }
}

/** The worker-thread entry (piscina calls the default export). Never throws: failures come back as data. */
export default async function runUploadTask(task: UploadTask): Promise<TaskResult | TaskFailure> {
  try {
    return await run(task);
  } catch (err) {
    if (isEngineError(err))
      return { failed: true, code: err.code, message: err.message, details: err.details };
    if (err instanceof UploadShapeError)
      return { failed: true, code: 'invalid_upload', message: err.message };
    if (err instanceof RangeError) {
      // Allocation or recursion limits reached by hostile input the parsers did not bound: still the input's fault.
      return { failed: true, code: 'too_large', message: `the upload cannot be decoded: ${err.message}` };
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return {
        failed: true,
        code: 'upload_missing',
        message: 'an upload of this job was deleted while it was checked',
      };
    }
    return { failed: true, code: 'internal', message: (err as Error).message ?? String(err) };
  }
}
