/**
 * Shared pieces of block products: k directions as one [k, P] tensor, θ₀ repeated k times, and the split of a
 * [k, P] result back into rows. See ParameterCopies (model/forward.ts) for how the forward pass carries the copies.
 */
import * as tf from '@tensorflow/tfjs';
import type { Objective } from '../objective.js';

/** Bytes a block may use for activations and their gradients, which bounds the directions per block. */
export const BLOCK_BUDGET_BYTES = 256 * 2 ** 20;
/** More directions per block gain little once per-op overhead is amortized, and cost memory. */
export const MAX_BLOCK = 32;

/**
 * Directions per block product for this objective: the budget over a copy's floats (its activations at every
 * layer, about 8 live float32 tensors of that size across a reverse-over-reverse pass, plus θ and its gradients),
 * at most MAX_BLOCK; 1 when the model takes no copies.
 */
export function blockSizeFor(objective: Objective): number {
  if (!objective.block) return 1;
  const bytesPerCopy = 4 * 8 * (objective.block.floatsPerCopy + objective.numParams);
  return Math.max(1, Math.min(MAX_BLOCK, Math.floor(BLOCK_BUDGET_BYTES / bytesPerCopy)));
}

/**
 * Runs `product(thetas, directions)` with θ₀ repeated k times and the k directions, both per selected weight with
 * the copy axis last ([...shape, k], see ParameterCopies), and returns the k directions' results, read back from
 * its per-weight [...shape, k] tensors.
 */
export function blockProduct(
  objective: Objective,
  vs: readonly Float64Array[],
  product: (thetas: tf.Tensor[], directions: tf.Tensor[]) => tf.Tensor[],
): Float64Array[] {
  const k = vs.length;
  const p = objective.numParams;
  const theta = objective.theta.dataSync() as Float32Array;
  const out = vs.map(() => new Float64Array(p));
  const results = tf.tidy(() => {
    // Built from arrays (wasm's Tile and Slice kernels are slow): entry (j, i) of a weight is θ₀ⱼ or vᵢⱼ.
    const thetas: tf.Tensor[] = [];
    const directions: tf.Tensor[] = [];
    for (const w of objective.layout) {
      const repeated = new Float32Array(w.size * k);
      const columns = new Float32Array(w.size * k);
      for (let j = 0; j < w.size; j++) {
        for (let i = 0; i < k; i++) {
          repeated[j * k + i] = theta[w.offset + j];
          columns[j * k + i] = vs[i][w.offset + j];
        }
      }
      thetas.push(tf.tensor(repeated, [...w.shape, k]));
      directions.push(tf.tensor(columns, [...w.shape, k]));
    }
    return product(thetas, directions);
  });
  try {
    objective.layout.forEach((w, n) => {
      const values = results[n].dataSync();
      for (let j = 0; j < w.size; j++) {
        for (let i = 0; i < k; i++) out[i][w.offset + j] = values[j * k + i];
      }
    });
  } finally {
    for (const r of results) r.dispose();
  }
  return out;
}

/** Σ over weights of ⟨a, b⟩. */
export function innerProduct(a: tf.Tensor[], b: tf.Tensor[]): tf.Scalar {
  return tf.addN(a.map((t, i) => tf.sum(tf.mul(t, b[i])))) as tf.Scalar;
}

/**
 * ∇L at k points at once (one pass with k copies of the weights: the gradient of Σᵢ L(θᵢ) is the k gradients), in
 * chunks of the objective's block size; one by one when the model takes no copies.
 */
export function blockGradients(
  objective: Objective,
  points: readonly Float32Array[],
  single: (point: Float32Array) => Float64Array,
): Float64Array[] {
  const block = objective.block;
  if (!block) return points.map(single);
  const size = blockSizeFor(objective);
  const out: Float64Array[] = [];
  for (let start = 0; start < points.length; start += size) {
    const chunk = points.slice(start, start + size);
    const k = chunk.length;
    if (k === 1) {
      out.push(single(chunk[0]));
      continue;
    }
    const results = tf.tidy(() => {
      const thetas = objective.layout.map((w) => {
        const columns = new Float32Array(w.size * k);
        for (let j = 0; j < w.size; j++)
          for (let i = 0; i < k; i++) columns[j * k + i] = chunk[i][w.offset + j];
        return tf.tensor(columns, [...w.shape, k]);
      });
      return tf.grads((...t: tf.Tensor[]) => block.loss(t))(thetas);
    });
    try {
      const gradients = chunk.map(() => new Float64Array(objective.numParams));
      objective.layout.forEach((w, n) => {
        const values = results[n].dataSync();
        for (let j = 0; j < w.size; j++)
          for (let i = 0; i < k; i++) gradients[i][w.offset + j] = values[j * k + i];
      });
      out.push(...gradients);
    } finally {
      for (const r of results) r.dispose();
    }
  }
  return out;
}
