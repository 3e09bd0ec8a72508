import { norm } from '../estimators/dense-linalg.js';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { VerificationCheck } from '../../contract/types.js';
import { judged, sci } from './check.js';

/** Diagonal entries a diagonal result is checked on. */
export const SAMPLED_ENTRIES = 3;
/** Accepted difference: both sides are float32 products of the same curvature (along different paths for the
 *  explicit-Jacobian GGN diagonal), differing by rounding. */
export const EXACT_ENTRY_TOLERANCE = 1e-4;

/**
 * Compares entries d_j of a diagonal result with fresh products e_jᵀ A e_j:
 *
 *   value = max_j |d_j − e_jᵀ A e_j| / max(|e_jᵀ A e_j|, ‖d‖/√n),
 *
 * relative to the entry, or to the root-mean-square entry when the entry is much smaller. Cost: one product
 * per entry.
 */
export async function sampledDiagonalCheck(
  operator: LinearOperator,
  diagonal: Float32Array,
  indices: number[],
  tolerance: number,
): Promise<VerificationCheck> {
  const n = operator.size;
  const rms = norm(Float64Array.from(diagonal)) / Math.sqrt(n);
  const values: number[] = [];
  for (const j of indices) {
    const unit = new Float64Array(n);
    unit[j] = 1;
    const entry = (await operator.matvec(unit))[j];
    const scale = Math.max(Math.abs(entry), rms);
    values.push(scale === 0 ? 0 : Math.abs(diagonal[j] - entry) / scale);
  }
  const value = Math.max(0, ...values);
  return judged(
    'sampled_diagonal',
    value,
    tolerance,
    `Entries ${indices.join(', ')} against fresh products e_jᵀ A e_j: largest relative difference ${sci(value)}.`,
    { values },
  );
}
