/**
 * What every check shares: the context it runs in (fresh, uninstrumented operators and its own random stream,
 * so checking never counts as progress and never perturbs the method's seeded draws) and how a measured value
 * becomes a {@link VerificationCheck}.
 */
import { norm } from '../estimators/dense-linalg.js';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { Rng } from '../estimators/rng.js';
import type { Curvature } from '../methods/method.js';
import type { Objective } from '../objective.js';
import type { VerificationCheck, VerificationCheckName } from '../../contract/types.js';

export interface CheckContext {
  objective: Objective;
  /** The curvature operator itself: products made here are fresh evaluations, not the method's. */
  operator(kind: Curvature): LinearOperator;
  /** Seeded independently of the method's stream. */
  rng: Rng;
}

/** A pass/fail check: passed when `value ≤ tolerance` and `ok` (e.g. an iteration converged). */
export function judged(
  name: VerificationCheckName,
  value: number,
  tolerance: number,
  detail: string,
  extra: { values?: number[]; ok?: boolean; inconclusive?: boolean } = {},
): VerificationCheck {
  return {
    name,
    passed: (extra.ok ?? true) && value <= tolerance,
    value,
    tolerance,
    ...(extra.values && { values: extra.values }),
    inconclusive: extra.inconclusive ?? false,
    approximation: false,
    detail,
  };
}

/** ‖a − b‖ / max(‖a‖, ‖b‖) (0 when both vanish): symmetric in a and b, at most 2. */
export function relativeDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  const scale = Math.max(norm(Float64Array.from(a)), norm(Float64Array.from(b)));
  return scale === 0 ? 0 : norm(d) / scale;
}

/** k distinct indices in [0, n), drawn from `rng` (all of them when k ≥ n), ascending. */
export function sampleIndices(rng: Rng, n: number, k: number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(k, n)) chosen.add(Math.floor(rng.uniform() * n));
  return [...chosen].sort((a, b) => a - b);
}

/** A value in the three-significant-digit scientific notation of check details. */
export const sci = (x: number): string => x.toExponential(2);
