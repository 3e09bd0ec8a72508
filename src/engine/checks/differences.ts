/**
 * Central differences as an independent witness of a curvature product. If F(θ) is a function whose derivative
 * along v at θ₀ is A v, then (F(θ₀ + h v) − F(θ₀ − h v)) / 2h = A v + O(h²), computed from values of F only.
 * Evaluated at two steps h and h/2, their disagreement measures the difference's own error (truncation and
 * float32 rounding), so a product is accepted within max(5%, 3 × that disagreement). When the two steps
 * disagree by more than 25%, a kink (relu, max pooling, Huber) lies within the step and the comparison is
 * inconclusive rather than failed.
 */
import { norm } from '../estimators/dense-linalg.js';
import type { Rng } from '../estimators/rng.js';
import type { Objective } from '../objective.js';
import { relativeDistance } from './check.js';

/** Accepted relative error against differences: float32 central differences are good to ~1e-4 on smooth
 *  losses, while a wrong second derivative (TF.js's own nested gradients) is off by 6% to 90%. */
export const DIFFERENCE_TOLERANCE = 0.05;
/** Disagreement between the steps h and h/2 above which a kink lies within the step. */
const KINK_DISAGREEMENT = 0.25;

export interface DifferenceComparison {
  /** ‖exact − D(h/2)‖ / max(‖exact‖, ‖D(h/2)‖). */
  relativeError: number;
  /** h = ε_f32^⅓ · max(1, ‖θ₀‖∞), which balances O(h²) truncation against O(ε/h) rounding. */
  step: number;
  tolerance: number;
  passed: boolean;
  inconclusive: boolean;
}

/**
 * Compares `exact` (A v for a unit v) with central differences of `evaluate` along v at θ₀ (4 evaluations).
 */
export function compareWithDifferences(
  objective: Objective,
  exact: Float64Array,
  evaluate: (point: Float32Array) => Float64Array,
  v: Float64Array,
): DifferenceComparison {
  const theta = objective.theta.dataSync() as Float32Array;
  let thetaMax = 0;
  for (const t of theta) thetaMax = Math.max(thetaMax, Math.abs(t));
  const h = Math.cbrt(2 ** -23) * Math.max(1, thetaMax);
  const along = (s: number) => Float32Array.from(theta, (t, i) => t + s * v[i]);
  const central = (s: number) => {
    const plus = evaluate(along(s));
    const minus = evaluate(along(-s));
    return plus.map((p, i) => (p - minus[i]) / (2 * s));
  };
  const wide = central(h);
  const narrow = central(h / 2);
  const disagreement = relativeDistance(wide, narrow);
  const relativeError = relativeDistance(exact, narrow);
  const tolerance = Math.max(DIFFERENCE_TOLERANCE, 3 * disagreement);
  return {
    relativeError,
    step: h,
    tolerance,
    passed: relativeError <= tolerance,
    inconclusive: disagreement > KINK_DISAGREEMENT,
  };
}

/** A Gaussian direction scaled to unit length. */
export function randomUnit(rng: Rng, n: number): Float64Array {
  const v = rng.gaussianVector(n);
  const length = norm(v);
  return v.map((x) => x / length);
}
