/**
 * The fixed file layout of each uploaded bundle, and its loading back into engine inputs. Shared by the API
 * (checks at upload and at job submission) and the compute children (which has no Redis: everything it needs
 * is in the bundle itself).
 */
import { parseNpy } from '../contract/data/npy.js';
import type { NdArray } from '../contract/ndarray.js';
import { manifestShardPaths } from '../contract/model/weights-manifest.js';
import type { ModelArtifacts } from '../contract/types.js';
import type { ArtifactStore } from './artifact-store.js';

export const MODEL_JSON_FILE = 'model.json';
export const INPUTS_FILE = 'inputs.npy';
export const TARGETS_FILE = 'targets.npy';
export const ARRAY_FILE = 'array.npy';

/** Shards are stored under their position in the manifest, never under a client-supplied name. */
export function shardFileName(index: number): string {
  return `shard-${index}.bin`;
}

export async function loadModelArtifacts(store: ArtifactStore, modelId: string): Promise<ModelArtifacts> {
  const json = JSON.parse(
    Buffer.from(await store.readBundleFile('models', modelId, MODEL_JSON_FILE)).toString('utf8'),
  );
  const weights = new Map<string, Uint8Array>();
  const paths = manifestShardPaths(json);
  for (let i = 0; i < paths.length; i++) {
    weights.set(paths[i], await store.readBundleFile('models', modelId, shardFileName(i)));
  }
  return { modelJson: json, weights };
}

export async function loadDataset(
  store: ArtifactStore,
  datasetId: string,
): Promise<{ inputs: NdArray; targets: NdArray }> {
  const inputs = parseNpy(await store.readBundleFile('datasets', datasetId, INPUTS_FILE), 'inputs');
  const targets = parseNpy(await store.readBundleFile('datasets', datasetId, TARGETS_FILE), 'targets');
  return { inputs, targets };
}

export async function loadArray(store: ArtifactStore, arrayId: string): Promise<NdArray> {
  return parseNpy(await store.readBundleFile('arrays', arrayId, ARRAY_FILE), 'vectors');
}
