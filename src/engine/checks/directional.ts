import * as tf from '@tensorflow/tfjs';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { Rng } from '../estimators/rng.js';
import type { Curvature } from '../methods/method.js';
import type { Objective } from '../objective.js';
import { jacobianVectorProduct } from '../operators/ggn-operator.js';
import { lossGradient } from '../operators/hessian-operator.js';
import { readFloat64 } from '../tensor-io.js';
import type { VerificationCheck } from '../../contract/types.js';
import { judged, sci } from './check.js';
import { compareWithDifferences, randomUnit, type DifferenceComparison } from './differences.js';

/**
 * Checks the curvature machinery independently of automatic second derivatives: along a random unit v,
 *   hessian: H v  against (∇L(θ + h v) − ∇L(θ − h v)) / 2h,
 *   ggn:     J v  against (f(θ + h v) − f(θ − h v)) / 2h   (J is what the GGN is built from),
 * at two steps h and h/2 (see {@link compareWithDifferences}).
 * Cost: one product (H v or J v) and four gradient (or forward) evaluations.
 */
export async function directionalCheck(
  objective: Objective,
  curvature: Curvature,
  operator: LinearOperator,
  rng: Rng,
): Promise<DifferenceComparison> {
  const v = randomUnit(rng, objective.numParams);
  if (curvature === 'hessian') {
    return compareWithDifferences(objective, await operator.matvec(v), (p) => lossGradient(objective, p), v);
  }
  const jv = readFloat64(() => {
    const logitsShape = tf.tidy(() => objective.logits(objective.theta)).shape;
    return jacobianVectorProduct(objective, tf.tensor1d(Float32Array.from(v)), logitsShape);
  });
  const logitsAt = (p: Float32Array) => readFloat64(() => objective.logits(tf.tensor1d(p)));
  return compareWithDifferences(objective, jv, logitsAt, v);
}

/** The `directional_fd` check from a comparison. */
export function directionalVerificationCheck(
  curvature: Curvature,
  c: DifferenceComparison,
): VerificationCheck {
  const what = curvature === 'hessian' ? 'H v against differences of ∇L' : 'J v against differences of f';
  return judged(
    'directional_fd',
    c.relativeError,
    c.tolerance,
    `${what} along a random unit v (steps ${sci(c.step)} and half): relative error ${sci(c.relativeError)}` +
      (c.inconclusive ? ', inconclusive: a kink lies within the step.' : '.'),
    { inconclusive: c.inconclusive },
  );
}
