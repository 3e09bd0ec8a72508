import * as tf from '@tensorflow/tfjs';
import { norm } from './estimators/dense-linalg.js';
import type { LinearOperator } from './estimators/linear-operator.js';
import type { Rng } from './estimators/rng.js';
import type { Curvature } from './methods/method.js';
import type { Objective } from './objective.js';
import { jacobianVectorProduct } from './operators/ggn-operator.js';
import { lossGradient } from './operators/hessian-operator.js';
import { readFloat64 } from './tensor-io.js';
import type { Verification } from './types.js';

/** Relative error of the curvature product against finite differences accepted in float32. */
const TOLERANCE = 0.05;
/** Symmetry residual above which a dense result is flagged. */
const SYMMETRY_TOLERANCE = 1e-3;

function relativeDistance(a: Float64Array, b: Float64Array): number {
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  const scale = Math.max(norm(a), norm(b));
  return scale === 0 ? 0 : norm(d) / scale;
}

/**
 * Checks the curvature machinery independently of automatic second derivatives: along a random unit v,
 *   hessian: H v  against (∇L(θ + h v) − ∇L(θ − h v)) / 2h,
 *   ggn:     J v  against (f(θ + h v) − f(θ − h v)) / 2h   (J is what the GGN is built from),
 * at two steps h and h/2. Their disagreement measures the finite-difference error itself, so the tolerance is
 * max(5%, 3 × that disagreement); a kink within the step makes the check inconclusive rather than failed.
 */
export async function directionalCheck(
  objective: Objective,
  curvature: Curvature,
  operator: LinearOperator,
  rng: Rng,
): Promise<NonNullable<Verification['directional']> & { inconclusive: boolean }> {
  const n = objective.numParams;
  const v = rng.gaussianVector(n);
  const vNorm = norm(v);
  for (let i = 0; i < n; i++) v[i] /= vNorm;
  const theta = objective.theta.dataSync() as Float32Array;
  let thetaMax = 0;
  for (const t of theta) thetaMax = Math.max(thetaMax, Math.abs(t));
  const h = Math.cbrt(2 ** -23) * Math.max(1, thetaMax);

  const along = (s: number) => Float32Array.from(theta, (t, i) => t + s * v[i]);
  const evaluate = (point: Float32Array): Float64Array =>
    curvature === 'hessian'
      ? lossGradient(objective, point)
      : readFloat64(() => objective.logits(tf.tensor1d(point)));
  const central = (s: number) => {
    const plus = evaluate(along(s));
    const minus = evaluate(along(-s));
    return plus.map((p, i) => (p - minus[i]) / (2 * s));
  };
  const exact =
    curvature === 'hessian'
      ? await operator.matvec(v)
      : readFloat64(() => {
          const logitsShape = tf.tidy(() => objective.logits(objective.theta)).shape;
          return jacobianVectorProduct(objective, tf.tensor1d(Float32Array.from(v)), logitsShape);
        });
  const wide = central(h);
  const narrow = central(h / 2);
  const fdDisagreement = relativeDistance(wide, narrow);
  const relativeError = relativeDistance(exact, narrow);
  const tolerance = Math.max(TOLERANCE, 3 * fdDisagreement);
  return {
    relativeError,
    step: h,
    tolerance,
    passed: relativeError <= tolerance,
    inconclusive: fdDisagreement > 0.25,
  };
}

export function assessSymmetry(residual: number | undefined, warnings: string[]): boolean {
  if (residual === undefined) return true;
  if (residual > SYMMETRY_TOLERANCE) {
    warnings.push(
      `The dense result's symmetry residual ${residual.toExponential(2)} exceeds ${SYMMETRY_TOLERANCE}.`,
    );
    return false;
  }
  return true;
}
