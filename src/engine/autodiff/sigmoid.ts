import * as tf from '@tensorflow/tfjs';

/** d σ(x) = σ(x)(1 − σ(x)) dy from the saved input (TF.js's version reuses the disconnected saved output). */
export const sigmoidGradConfig: tf.GradConfig = {
  kernelName: tf.Sigmoid,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return {
      x: () => {
        const s = tf.sigmoid(x);
        return tf.mul(dy as tf.Tensor, tf.mul(s, tf.sub(1, s)));
      },
    };
  },
};
