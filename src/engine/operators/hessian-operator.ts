import * as tf from '@tensorflow/tfjs';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { FactorBackprop } from '../curvature/factor-backprop.js';
import type { Objective } from '../objective.js';
import { readFloat64 } from '../tensor-io.js';
import { blockProduct, blockSizeFor, innerProduct } from './block.js';

/**
 * v ↦ H v with H = ∇²L(θ₀), by reverse-over-reverse differentiation: H v = ∇_θ ⟨∇_θ L(θ), v⟩. Exact (to float32
 * rounding) because every op in L has a second-order-safe gradient (see autodiff/register-all.ts).
 */
export function hessianOperator(objective: Objective): LinearOperator {
  const factor = objective.factor;
  if (factor) return factorOperator(objective, 'hessian', factor);
  const gradient = tf.grad((theta: tf.Tensor) => objective.loss(theta));
  const block = objective.block;
  return {
    size: objective.numParams,
    blockSize: blockSizeFor(objective),
    // k products in one pass: the gradient of Σᵢ L(θᵢ) at k copies of θ₀ is k gradients, and differentiating
    // Σᵢ ⟨∇L(θᵢ), vᵢ⟩ once more gives [H v₁, …, H v_k].
    ...(block && {
      matmat: async (vs: readonly Float64Array[]) => {
        const blockGradient = tf.grads((...thetas: tf.Tensor[]) => block.loss(thetas));
        return blockProduct(objective, vs, (thetas, directions) =>
          tf.grads((...t: tf.Tensor[]) => innerProduct(blockGradient(t), directions))(thetas),
        );
      },
    }),
    matvec: async (v) =>
      readFloat64(() => {
        const direction = tf.tensor1d(Float32Array.from(v));
        return tf.grad((theta: tf.Tensor) => tf.sum(tf.mul(gradient(theta), direction)) as tf.Scalar)(
          objective.theta,
        );
      }),
  };
}

/**
 * H v or G v for the Dense chains the backpropagated factor covers: the R-operator written out for the chain
 * (`FactorBackprop.products`), its forward pass and gradient shared by every product, k directions per pass.
 */
export function factorOperator(
  objective: Objective,
  curvature: 'hessian' | 'ggn',
  factor: FactorBackprop,
): LinearOperator {
  const products = (vs: readonly Float64Array[]) => {
    const out = factor.products(curvature, objective.theta, vs);
    if (objective.l2 > 0) out.forEach((o, c) => o.forEach((_, i) => (o[i] += objective.l2 * vs[c][i])));
    return out;
  };
  return {
    size: objective.numParams,
    blockSize: blockSizeFor(objective),
    matmat: async (vs) => products(vs),
    matvec: async (v) => products([v])[0],
    // The shared linearization belongs to the objective's factor and goes with the objective.
    dispose: () => undefined,
  } as LinearOperator & { dispose(): void };
}

/** ∇L(θ) at a given θ (used by finite differences and the directional check). */
export function lossGradient(objective: Objective, theta: Float32Array): Float64Array {
  return readFloat64(() => tf.grad((th: tf.Tensor) => objective.loss(th))(tf.tensor1d(theta)));
}
