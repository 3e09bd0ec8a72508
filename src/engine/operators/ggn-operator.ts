import * as tf from '@tensorflow/tfjs';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { Objective } from '../objective.js';
import { readFloat64 } from '../tensor-io.js';
import { blockProduct, blockSizeFor, innerProduct } from './block.js';
import { factorOperator } from './hessian-operator.js';

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
  if (objective.factor) return factorOperator(objective, 'ggn', objective.factor);
  const logits = tf.keep(tf.tidy(() => objective.logits(objective.theta)));
  const block = objective.block;
  return {
    size: objective.numParams,
    blockSize: blockSizeFor(objective),
    // k products at once on k copies of θ₀ (copy-major logits [k·N, ...]): J V by double backward through the
    // copies, the loss Hessian of Σᵢ ℓ(zᵢ) (block-diagonal by copy and example), then Jᵀ of every copy.
    ...(block && {
      matmat: async (vs: readonly Float64Array[]) =>
        blockProduct(objective, vs, (thetas, directions) => {
          const k = vs.length;
          const vjp = (u: tf.Tensor) =>
            tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(block.logits(t), u)) as tf.Scalar)(thetas);
          const tiledLogits = tf.concat(new Array<tf.Tensor>(k).fill(logits), 0);
          const jv = tf.grad((u: tf.Tensor) => innerProduct(vjp(u), directions))(tf.zerosLike(tiledLogits));
          const lossGradient = tf.grad((z: tf.Tensor) => block.lossOfLogits(z, k));
          const hjv = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(lossGradient(z), jv)) as tf.Scalar)(
            tiledLogits,
          );
          const gv = vjp(hjv);
          return objective.l2 > 0 ? gv.map((g, i) => tf.add(g, tf.mul(objective.l2, directions[i]))) : gv;
        }),
    }),
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
