import * as tf from '@tensorflow/tfjs';

/**
 * gatherND is linear in `x`: its adjoint scatters (summing duplicates) into x's shape. TF.js registers no
 * gradient for GatherNd, and GatherV2's gradient needs UnsortedSegmentSum, which the wasm backend lacks; the
 * GatherNd/ScatterNd pair is closed under differentiation on every backend.
 */
export const gatherNdGradConfig: tf.GradConfig = {
  kernelName: tf.GatherNd,
  inputsToSave: ['params', 'indices'],
  gradFunc: (dy, saved) => {
    const [params, indices] = saved;
    return {
      params: () => tf.scatterND(indices, dy as tf.Tensor, params.shape),
      indices: () => tf.zerosLike(indices),
    };
  },
};
