import * as tf from '@tensorflow/tfjs';

/** d exp(x) = exp(x) dy from the saved input (TF.js's version reuses the disconnected saved output). */
export const expGradConfig: tf.GradConfig = {
  kernelName: tf.Exp,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return { x: () => tf.mul(dy as tf.Tensor, tf.exp(x)) };
  },
};
