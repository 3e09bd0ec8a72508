import * as tf from '@tensorflow/tfjs';
import { applyActivation } from '../model/activations.js';
import type { LossFunction } from './loss-function.js';
import { reduceLastAxisThenBatch } from './reduce.js';

/** ℓ = mean over the last axis of (y − t)², y = activation(logits). */
export const meanSquaredError: LossFunction = (logits, targets, finalActivation, spec) => {
  const y = applyActivation(finalActivation, logits);
  return reduceLastAxisThenBatch(tf.square(tf.sub(y, targets)), spec.reduction);
};
