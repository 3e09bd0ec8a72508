import * as tf from '@tensorflow/tfjs';

/**
 * d elu(x) = dy where x > 0, exp(x) dy elsewhere. TF.js differentiates Elu through an EluGrad kernel that has
 * no gradient of its own, so second derivatives would throw; this form is built from differentiable ops.
 */
export const eluGradConfig: tf.GradConfig = {
  kernelName: tf.Elu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return { x: () => tf.mul(dy as tf.Tensor, tf.where(tf.greater(x, 0), tf.onesLike(x), tf.exp(x))) };
  },
};
