import type * as tf from '@tensorflow/tfjs';
import type { LossSpec } from '../spec.js';

/** How the network's last activation reaches the loss: fused into a cross-entropy, or applied before it. */
export type FinalActivation = 'softmax' | 'sigmoid' | 'linear';

/**
 * A loss of the logits: `logits` is the network output split before a final softmax/sigmoid (named by
 * `finalActivation`), `targets` has the output's shape (sparse labels arrive one-hot). Returns the reduced
 * scalar without the L2 term. Built only from second-order-safe ops.
 */
export type LossFunction = (
  logits: tf.Tensor,
  targets: tf.Tensor,
  finalActivation: FinalActivation,
  spec: LossSpec,
) => tf.Scalar;
