import * as tf from '@tensorflow/tfjs';

/**
 * d tanh(x) = (1 − tanh²(x)) dy, recomputed from the saved input. TF.js's own gradient reuses the saved output,
 * which is not connected to an outer tape, so nested `tf.grad` gives wrong second derivatives.
 */
export const tanhGradConfig: tf.GradConfig = {
  kernelName: tf.Tanh,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return { x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(tf.tanh(x)))) };
  },
};
