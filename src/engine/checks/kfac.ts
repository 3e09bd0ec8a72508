/**
 * Checks of a KFAC result. KFAC approximates the GGN, so no check compares K with the batch's GGN (they differ by
 * design); instead:
 *
 * - `kfac_single_example`: KFAC is exact for one example. On a seeded example n, the factors of n alone (A_n = ā āᵀ,
 *   B_n from the exact factor with the batch's reduction scale) times a random vector, per layer, against example n's
 *   exact GGN block product P_l G_n P_l v, made by an independent route: J v by double backward through the
 *   objective's own forward pass, the loss Hessian by autodiff of the loss (masked to example n), then Jᵀ.
 * - `kfac_inverse_residual`: ‖(K + δI)x − v‖/‖v‖ for the returned (float32) inverse products, with K's products made
 *   directly from the returned factors (A V̄ B per layer), not through the eigendecompositions that made x.
 */
import * as tf from '@tensorflow/tfjs';
import type { KfacPlan } from '../../contract/kfac-coverage.js';
import type { VerificationCheck } from '../../contract/types.js';
import { buildKfac } from '../curvature/kfac.js';
import {
  gatherLayer,
  kfacApply,
  kroneckerProduct,
  scatterLayer,
  type KroneckerFactors,
} from '../curvature/kronecker.js';
import { axpy, norm } from '../estimators/dense-linalg.js';
import type { MethodProblem } from '../methods/method.js';
import type { Objective } from '../objective.js';
import { readFloat64 } from '../tensor-io.js';
import { judged, relativeDistance, sci, type CheckContext } from './check.js';

/** Both sides are float32 computations of the same block along different paths: they differ by rounding only. */
export const KFAC_EXAMPLE_TOLERANCE = 1e-4;
/** The residual a correct inverse keeps besides the float32 rounding of x (see kfacInverseResidualCheck). */
export const KFAC_INVERSE_FLOOR = 1e-4;
/** Unit roundoff of float32. */
const FLOAT32_EPS = 2 ** -24;

/**
 * Example n's term of the GGN data part times v: Jᵀ H_n J v, with H_n the loss Hessian (already carrying the
 * batch's reduction scale) of example n alone.
 */
function exampleGgnProduct(objective: Objective, example: number, v: Float64Array): Float64Array {
  return readFloat64(() => {
    const theta = objective.theta;
    const logits = objective.logits(theta);
    const rows = logits.shape[0];
    const selected = new Float32Array(rows);
    selected[example] = 1;
    const mask = tf.tensor(selected, [rows, ...logits.shape.slice(1).map(() => 1)]);
    const direction = tf.tensor1d(Float32Array.from(v));
    const vjp = (u: tf.Tensor) =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(objective.logits(t), u)) as tf.Scalar)(theta);
    const jv = tf.grad((u: tf.Tensor) => tf.sum(tf.mul(vjp(u), direction)) as tf.Scalar)(
      tf.zerosLike(logits),
    );
    const lossGradient = tf.grad((z: tf.Tensor) => objective.lossOfLogits(z));
    const hjv = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(lossGradient(z), tf.mul(jv, mask))) as tf.Scalar)(
      logits,
    );
    return vjp(tf.mul(hjv, mask));
  });
}

/** Cost: one forward pass over the batch, C backpropagated columns for one example, and one GGN product per layer. */
export async function kfacSingleExampleCheck(
  ctx: CheckContext,
  plan: KfacPlan,
  problem: MethodProblem,
): Promise<VerificationCheck> {
  const { objective } = ctx;
  const p = objective.numParams;
  const example = Math.min(objective.numExamples - 1, Math.floor(ctx.rng.uniform() * objective.numExamples));
  const v = ctx.rng.gaussianVector(p);
  const engine = buildKfac(plan, problem, objective.theta);
  let factors;
  try {
    factors = await engine.exampleFactors(example);
  } finally {
    engine.dispose();
  }
  const values: number[] = [];
  for (const { layer, a, b } of factors) {
    const block = gatherLayer(v, layer);
    const restricted = new Float64Array(p);
    scatterLayer(restricted, layer, block);
    const exact = gatherLayer(exampleGgnProduct(objective, example, restricted), layer);
    const kfac = kroneckerProduct(a, b, block, layer.inSize, layer.outSize);
    values.push(relativeDistance(kfac, exact));
  }
  const value = Math.max(0, ...values);
  return judged(
    'kfac_single_example',
    value,
    KFAC_EXAMPLE_TOLERANCE,
    `KFAC approximates the GGN and is exact for one example: on example ${example}, A ⊗ B from that example alone ` +
      `times a random vector, per layer, against its exact GGN block product Jᵀ H_ℓ J v (double backward): largest ` +
      `relative difference ${sci(value)}.`,
    { values },
  );
}

/**
 * True residuals of the returned inverse products, rᵢ = ‖(K + s I) xᵢ − vᵢ‖/‖vᵢ‖ with s = l2 + damping and K v by
 * the factors' products. x is returned in float32, whose rounding alone leaves a residual up to about κ·ε_f32 (κ the
 * condition number of K + s I), so the tolerance is KFAC_INVERSE_FLOOR + 4κ·ε_f32; inconclusive when that exceeds
 * 1e-2 (K + s I too ill-conditioned for a float32 answer to be checked). Cost: k products with the factors.
 */
export function kfacInverseResidualCheck(
  blocks: KroneckerFactors[],
  system: { shift: number; rhs: Float64Array[]; solutions: Float64Array[]; conditionNumber: number },
): VerificationCheck {
  const values = system.solutions.map((x, i) => {
    const residual = kfacApply(blocks, x);
    axpy(system.shift, x, residual);
    axpy(-1, system.rhs[i], residual);
    const bNorm = norm(system.rhs[i]);
    return bNorm === 0 ? norm(residual) : norm(residual) / bNorm;
  });
  const value = Math.max(0, ...values);
  const tolerance = KFAC_INVERSE_FLOOR + 4 * system.conditionNumber * FLOAT32_EPS;
  const inconclusive = tolerance > 1e-2;
  return judged(
    'kfac_inverse_residual',
    value,
    tolerance,
    `‖(K + δI)x − v‖/‖v‖ per vector for the returned x, K (the KFAC approximation of the GGN, + l2·I) applied ` +
      `from its factors: largest ${sci(value)} (condition number of K + δI: ${sci(system.conditionNumber)})` +
      (inconclusive
        ? '; inconclusive: float32 cannot hold a solution this ill-conditioned to the tolerance.'
        : '.'),
    { values, inconclusive },
  );
}
