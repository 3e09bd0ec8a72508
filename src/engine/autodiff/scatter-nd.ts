import * as tf from '@tensorflow/tfjs';

/** scatterND (summing duplicates) is linear in `updates`; its adjoint gathers from the incoming gradient. */
export const scatterNdGradConfig: tf.GradConfig = {
  kernelName: tf.ScatterNd,
  inputsToSave: ['indices'],
  gradFunc: (dy, saved) => {
    const [indices] = saved;
    return {
      updates: () => tf.gatherND(dy as tf.Tensor, indices),
      indices: () => tf.zerosLike(indices),
    };
  },
};
