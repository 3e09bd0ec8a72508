import * as tf from '@tensorflow/tfjs';

/**
 * Runs `fn` in a tidy scope and copies its tensor out, then frees it. (Returning a typed array from `tf.tidy`
 * itself would make TF.js walk every element looking for tensors.)
 */
export function readFloat32(fn: () => tf.Tensor): Float32Array {
  const t = tf.tidy(fn);
  try {
    return Float32Array.from(t.dataSync() as Float32Array); // a copy: the backend may reuse its buffer
  } finally {
    t.dispose();
  }
}

export function readFloat64(fn: () => tf.Tensor): Float64Array {
  return Float64Array.from(readFloat32(fn));
}
