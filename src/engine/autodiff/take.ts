import * as tf from '@tensorflow/tfjs';

/**
 * `take(x, indices)`: elements of x (read flat, row-major) at integer positions; result has the shape of
 * `indices`. Index −1 reads 0 (used for padding). Differentiable to any order on every backend (GatherNd and
 * ScatterNd gradients are registered by `registerSecondOrderGradients`).
 */
export function take(x: tf.Tensor, indices: Int32Array, shape: number[]): tf.Tensor {
  return tf.tidy(() => {
    // The zero for −1 is appended only when some index needs it: its concat (and the split in its gradient) copies
    // all of x, which is most of the cost on wasm.
    const padded = indices.some((i) => i < 0);
    const flat = padded ? tf.concat([tf.reshape(x, [-1]), tf.zeros([1])]) : tf.reshape(x, [-1]);
    const padIndex = flat.shape[0] - 1;
    const idx = new Int32Array(indices.length);
    for (let i = 0; i < idx.length; i++) idx[i] = indices[i] < 0 ? padIndex : indices[i];
    const gathered = tf.gatherND(flat, tf.tensor2d(idx, [idx.length, 1], 'int32'));
    return tf.reshape(gathered, shape);
  });
}
