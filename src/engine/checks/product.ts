import * as tf from '@tensorflow/tfjs';
import { norm } from '../estimators/dense-linalg.js';
import type { Curvature } from '../methods/method.js';
import type { Objective } from '../objective.js';
import { vectorJacobianProduct } from '../operators/ggn-operator.js';
import { lossGradient } from '../operators/hessian-operator.js';
import { readFloat64 } from '../tensor-io.js';
import type { VerificationCheck } from '../../contract/types.js';
import { judged, sci, type CheckContext } from './check.js';
import { compareWithDifferences, randomUnit } from './differences.js';

/** A product A·direction as a result states it (a dense matrix times a vector, or a returned product). */
export interface ClaimedProduct {
  direction: Float64Array;
  product: Float64Array;
  /** Where the product comes from, for the check's detail. */
  source: string;
}

/**
 * Jᵀ(θ₀) ∇_zℓ(f(θ)): its derivative along v at θ₀ is Jᵀ H_ℓ J v, since ∇_zℓ(f(θ₀ ± s v)) = g ± s H_ℓ J v + O(s²)
 * after the central difference cancels f's own curvature. First-order passes only: a forward pass, the loss
 * gradient in z, and one reverse pass at θ₀.
 */
function ggnDataGradient(objective: Objective): (point: Float32Array) => Float64Array {
  return (point) =>
    readFloat64(() => {
      const z = objective.logits(tf.tensor1d(point));
      const u = tf.grad((logits: tf.Tensor) => objective.lossOfLogits(logits))(z);
      return vectorJacobianProduct(objective, u);
    });
}

/**
 * The whole product, not just its ingredients, against central differences (see compareWithDifferences):
 *   hessian (`product_fd`):       H v         against differences of ∇L(θ₀ + s v);
 *   ggn (`full_ggn_product`):     G v − l2·v  against differences of Jᵀ∇_zℓ(f(θ₀ + s v)),
 * along the claimed product's own direction, or a random unit v with a fresh operator product when the result
 * claims none. Cost: four evaluations (a gradient each; for the GGN a forward pass, the loss gradient in z and
 * a reverse pass at θ₀ each), plus one product when none is claimed.
 */
export async function productCheck(
  ctx: CheckContext,
  curvature: Curvature,
  claimed?: ClaimedProduct,
): Promise<VerificationCheck> {
  const { objective } = ctx;
  const name = curvature === 'hessian' ? 'product_fd' : 'full_ggn_product';
  const direction = claimed?.direction ?? randomUnit(ctx.rng, objective.numParams);
  const product = claimed?.product ?? (await ctx.operator(curvature).matvec(direction));
  const source = claimed?.source ?? `the ${curvature} operator`;
  const length = norm(direction);
  if (length === 0) {
    return judged(name, norm(product), 0, `The product along a zero vector from ${source} must vanish.`);
  }
  const v = direction.map((x) => x / length);
  const exact = product.map((x, i) => x / length - (curvature === 'ggn' ? objective.l2 * v[i] : 0));
  const evaluate =
    curvature === 'hessian' ? (p: Float32Array) => lossGradient(objective, p) : ggnDataGradient(objective);
  const c = compareWithDifferences(objective, exact, evaluate, v);
  const what =
    curvature === 'hessian'
      ? 'H v against differences of ∇L'
      : 'G v against differences of Jᵀ∇_zℓ(f) (first-order passes only)';
  return judged(
    name,
    c.relativeError,
    c.tolerance,
    `${what} along ${claimed ? 'its vector' : 'a random unit v'}, from ${source}: ` +
      `relative error ${sci(c.relativeError)}` +
      (c.inconclusive ? ', inconclusive: a kink lies within the step.' : '.'),
    { inconclusive: c.inconclusive },
  );
}
