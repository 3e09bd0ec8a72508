import * as tf from '@tensorflow/tfjs';
import { applyActivation } from '../model/activations.js';
import type { LossFunction } from './loss-function.js';
import { reduceLastAxisThenBatch } from './reduce.js';

/** ℓ = ½r² where |r| ≤ δ, δ(|r| − ½δ) elsewhere, r = y − t; mean over the last axis (Keras `huber`). */
export const huber: LossFunction = (logits, targets, finalActivation, spec) => {
  const r = tf.sub(applyActivation(finalActivation, logits), targets);
  const a = tf.abs(r);
  const quadratic = tf.mul(0.5, tf.square(r));
  const linear = tf.mul(spec.delta, tf.sub(a, 0.5 * spec.delta));
  return reduceLastAxisThenBatch(tf.where(tf.lessEqual(a, spec.delta), quadratic, linear), spec.reduction);
};
