import * as tf from '@tensorflow/tfjs';
import type { LossSpec } from '../../contract/request-schema.js';

/**
 * Keras reduction of per-element losses: each example's loss is the mean over the last axis; `mean` averages
 * those over every remaining position (so MSE with 2-D outputs is the mean over all elements), `sum` adds them.
 */
export function reduceLastAxisThenBatch(perElement: tf.Tensor, reduction: LossSpec['reduction']): tf.Scalar {
  const perExample = tf.mean(perElement, -1);
  return (reduction === 'sum' ? tf.sum(perExample) : tf.mean(perExample)) as tf.Scalar;
}

/** Sum over the last axis (class axis), then the Keras reduction over the remaining positions. */
export function reduceClassAxisThenBatch(perElement: tf.Tensor, reduction: LossSpec['reduction']): tf.Scalar {
  const perExample = tf.sum(perElement, -1);
  return (reduction === 'sum' ? tf.sum(perExample) : tf.mean(perExample)) as tf.Scalar;
}

/** Keras clips probabilities to [ε, 1 − ε] before taking logs. */
export const EPSILON = 1e-7;
