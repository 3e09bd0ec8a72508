import * as tf from '@tensorflow/tfjs';
import type { ModelArtifacts } from '../../../src/contract/types.js';

/** Deterministic uniform [0, 1) numbers (mulberry32), so every test draws the same weights and inputs. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniform(rand: () => number, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

/** Gives every weight non-trivial values; variances (BatchNormalization moving_variance) stay positive. */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const rand = random(seed);
  model.setWeights(
    model.weights.map((w) => {
      const shape = w.shape as number[];
      const n = shape.reduce((a, b) => a * b, 1);
      const values = w.name.includes('variance') ? uniform(rand, n, 0.5, 2) : uniform(rand, n, -0.8, 0.8);
      return tf.tensor(values, shape);
    }),
  );
}

/** Saves a TF.js model the way `model.save` writes files: model.json with a manifest, one shard. */
export async function toArtifacts(
  model: tf.LayersModel,
  shard = 'group1-shard1of1.bin',
): Promise<ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = saved!;
  const modelJson = {
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [shard], weights: a.weightSpecs }],
  };
  const data = a.weightData as ArrayBuffer;
  return {
    modelJson: JSON.parse(JSON.stringify(modelJson)),
    weights: new Map([[shard, new Uint8Array(data.slice(0))]]),
  };
}

/** Loads artifacts with real TF.js Layers from an in-memory IOHandler: the reference implementation. */
export async function loadWithTfjs(artifacts: ModelArtifacts): Promise<tf.LayersModel> {
  const json = artifacts.modelJson as { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig };
  const group = json.weightsManifest[0];
  const shard = artifacts.weights.get(group.paths[0])!;
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: group.weights,
      weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength) as ArrayBuffer,
    }),
  );
}
