import * as tf from '@tensorflow/tfjs';
import { applyActivation, logSoftmax } from '../model/activations.js';
import type { LossFunction } from './loss-function.js';
import { EPSILON, reduceClassAxisThenBatch } from './reduce.js';

/**
 * ℓ = −Σ_c t_c log p_c. From logits (or fused with a final softmax) log p = logSoftmax(z), shifted by a constant
 * row maximum so it is stable and twice differentiable; from probabilities, Keras' normalise-then-clip form.
 * Sparse labels reach this loss one-hot encoded.
 */
export const categoricalCrossentropy: LossFunction = (logits, targets, finalActivation, spec) => {
  if (spec.fromLogits || finalActivation === 'softmax') {
    return reduceClassAxisThenBatch(tf.neg(tf.mul(targets, logSoftmax(logits))), spec.reduction);
  }
  const y = applyActivation(finalActivation, logits);
  const p = tf.clipByValue(tf.div(y, tf.sum(y, -1, true)), EPSILON, 1 - EPSILON);
  return reduceClassAxisThenBatch(tf.neg(tf.mul(targets, tf.log(p))), spec.reduction);
};
