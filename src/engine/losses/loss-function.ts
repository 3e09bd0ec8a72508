import type * as tf from '@tensorflow/tfjs';
import type { FinalActivation } from '../model/forward.js';
import type { LossSpec } from '../../contract/request-schema.js';

export type { FinalActivation };

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
