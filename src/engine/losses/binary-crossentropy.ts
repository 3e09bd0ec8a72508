import * as tf from '@tensorflow/tfjs';
import { applyActivation } from '../model/activations.js';
import type { LossFunction } from './loss-function.js';
import { EPSILON, reduceLastAxisThenBatch } from './reduce.js';

/**
 * ℓ = −[t log p + (1 − t) log(1 − p)], mean over the last axis. From logits (or fused with a final sigmoid) it is
 * computed stably as softplus(z) − t·z, whose second derivative σ(z)(1 − σ(z)) never loses precision.
 */
export const binaryCrossentropy: LossFunction = (logits, targets, finalActivation, spec) => {
  if (spec.fromLogits || finalActivation === 'sigmoid') {
    return reduceLastAxisThenBatch(tf.sub(tf.softplus(logits), tf.mul(targets, logits)), spec.reduction);
  }
  const p = tf.clipByValue(applyActivation(finalActivation, logits), EPSILON, 1 - EPSILON);
  const perElement = tf.neg(
    tf.add(tf.mul(targets, tf.log(p)), tf.mul(tf.sub(1, targets), tf.log(tf.sub(1, p)))),
  );
  return reduceLastAxisThenBatch(perElement, spec.reduction);
};
