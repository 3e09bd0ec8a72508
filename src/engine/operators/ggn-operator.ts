import * as tf from '@tensorflow/tfjs';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { Objective } from '../objective.js';
import { readFloat64 } from '../tensor-io.js';

/** J v, with J = ∂z/∂θ at θ₀, by the double-backward trick: J v = ∇_u ⟨Jᵀu, v⟩ (Jᵀu is linear in u). */
export function jacobianVectorProduct(
  objective: Objective,
  direction: tf.Tensor,
  logitsShape: number[],
): tf.Tensor {
  const vjp = (u: tf.Tensor) =>
    tf.grad((theta: tf.Tensor) => tf.sum(tf.mul(objective.logits(theta), u)) as tf.Scalar)(objective.theta);
  return tf.grad((u: tf.Tensor) => tf.sum(tf.mul(vjp(u), direction)) as tf.Scalar)(tf.zeros(logitsShape));
}

/** Jᵀ u: one reverse pass through the network. */
export function vectorJacobianProduct(objective: Objective, u: tf.Tensor): tf.Tensor {
  return tf.grad((theta: tf.Tensor) => tf.sum(tf.mul(objective.logits(theta), u)) as tf.Scalar)(
    objective.theta,
  );
}

/** H_ℓ w: the Hessian of the loss with respect to the logits (block-diagonal by example) times w. */
export function lossHessianProduct(objective: Objective, logits: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const gradient = tf.grad((z: tf.Tensor) => objective.lossOfLogits(z));
  return tf.grad((z: tf.Tensor) => tf.sum(tf.mul(gradient(z), w)) as tf.Scalar)(logits);
}

/**
 * v ↦ G v with the generalized Gauss–Newton G = Jᵀ H_ℓ J + l2·I, split at the logits (before a fused final
 * softmax/sigmoid). G is positive semi-definite for convex losses; it equals H for models linear in θ.
 */
export function ggnOperator(objective: Objective): LinearOperator {
  const logits = tf.keep(tf.tidy(() => objective.logits(objective.theta)));
  return {
    size: objective.numParams,
    matvec: async (v) =>
      readFloat64(() => {
        const direction = tf.tensor1d(Float32Array.from(v));
        const jv = jacobianVectorProduct(objective, direction, logits.shape);
        const gv = vectorJacobianProduct(objective, lossHessianProduct(objective, logits, jv));
        return objective.l2 > 0 ? tf.add(gv, tf.mul(objective.l2, direction)) : gv;
      }),
    dispose: () => logits.dispose(),
  } as LinearOperator & { dispose(): void };
}
