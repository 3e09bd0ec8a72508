/**
 * The fixed file layout of each uploaded bundle, and its loading back into engine inputs. Shared by the API
 * (checks at upload and at job submission) and the compute children (which has no Redis: everything it needs
 * is in the bundle itself).
 */
import { parseNpy } from '../contract/data/npy.js';
import { isNamed, type ArrayGroup } from '../contract/data/array-group.js';
import { concatBatches } from '../contract/data/concat.js';
import type { NdArray } from '../contract/ndarray.js';
import { manifestShardPaths } from '../contract/model/weights-manifest.js';
import type { ModelArtifacts } from '../contract/types.js';
import type { ArtifactStore } from './artifact-store.js';

export const MODEL_JSON_FILE = 'model.json';
/** An ONNX model's bundle is this one file instead of model.json and shards. */
export const MODEL_ONNX_FILE = 'model.onnx';
export const INPUTS_FILE = 'inputs.npy';
export const TARGETS_FILE = 'targets.npy';
export const ARRAY_FILE = 'array.npy';

/** Shards are stored under their position in the manifest, never under a client-supplied name. */
export function shardFileName(index: number): string {
  return `shard-${index}.bin`;
}

export async function loadModelArtifacts(store: ArtifactStore, modelId: string): Promise<ModelArtifacts> {
  let jsonBytes: Uint8Array;
  try {
    jsonBytes = await store.readBundleFile('models', modelId, MODEL_JSON_FILE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // An ONNX model: its bytes are the model (parseModel tells them from JSON by content).
    return { modelJson: await store.readBundleFile('models', modelId, MODEL_ONNX_FILE), weights: new Map() };
  }
  const json = JSON.parse(Buffer.from(jsonBytes).toString('utf8'));
  const weights = new Map<string, Uint8Array>();
  const paths = manifestShardPaths(json);
  for (let i = 0; i < paths.length; i++) {
    weights.set(paths[i], await store.readBundleFile('models', modelId, shardFileName(i)));
  }
  return { modelJson: json, weights };
}

/**
 * A batch of named arrays (several model inputs or outputs) lists the names in `batch.json`; the arrays are stored
 * by position (`inputs-0.npy`, ...), never under a client-supplied name. A batch without it is one `inputs.npy` and
 * one `targets.npy`.
 */
export const BATCH_NAMES_FILE = 'batch.json';

export interface BatchNames {
  inputs: string[] | null;
  targets: string[] | null;
}

export const namedArrayFile = (what: 'inputs' | 'targets', index: number) => `${what}-${index}.npy`;

export async function loadDataset(
  store: ArtifactStore,
  datasetId: string,
): Promise<{ inputs: ArrayGroup; targets: ArrayGroup }> {
  const read = (name: string) => store.readBundleFile('datasets', datasetId, name);
  const files = await store.listBundleFiles('datasets', datasetId);
  const names: BatchNames = files.includes(BATCH_NAMES_FILE)
    ? (JSON.parse(Buffer.from(await read(BATCH_NAMES_FILE)).toString('utf8')) as BatchNames)
    : { inputs: null, targets: null };
  const group = async (what: 'inputs' | 'targets', list: string[] | null): Promise<ArrayGroup> => {
    if (list === null) return parseNpy(await read(what === 'inputs' ? INPUTS_FILE : TARGETS_FILE), what);
    const arrays = new Map<string, NdArray>();
    for (let i = 0; i < list.length; i++) {
      arrays.set(list[i], parseNpy(await read(namedArrayFile(what, i)), `${what}.${list[i]}`));
    }
    return arrays;
  };
  return { inputs: await group('inputs', names.inputs), targets: await group('targets', names.targets) };
}

/** Several datasets as one batch, examples in the order given (a job's `datasetIds`; see `concatBatches`). */
export async function loadDatasets(
  store: ArtifactStore,
  datasetIds: readonly string[],
): Promise<{ inputs: ArrayGroup; targets: ArrayGroup; examples: number[] }> {
  const batches = [];
  for (const id of datasetIds) batches.push(await loadDataset(store, id));
  const examples = batches.map(
    (b) => (isNamed(b.inputs) ? [...b.inputs.values()][0] : b.inputs).shape[0] ?? 0,
  );
  return { ...concatBatches(batches, datasetIds), examples };
}

export async function loadArray(store: ArtifactStore, arrayId: string): Promise<NdArray> {
  return parseNpy(await store.readBundleFile('arrays', arrayId, ARRAY_FILE), 'vectors');
}
