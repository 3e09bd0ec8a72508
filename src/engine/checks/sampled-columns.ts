import { norm } from '../estimators/dense-linalg.js';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { VerificationCheck } from '../../contract/types.js';
import { judged, sci } from './check.js';

/** Columns a dense result is checked on. */
export const SAMPLED_COLUMNS = 3;
/** Accepted difference for an exact dense result (hessian, ggn): both sides are float32 products of the same
 *  curvature, differing by rounding (and, for the explicit-Jacobian GGN, summation order). */
export const EXACT_COLUMN_TOLERANCE = 1e-4;

/**
 * Compares columns j of a dense n×n result M (row-major; symmetric, so column j is also row j) with fresh
 * operator products A e_j, restricted to j's block when the result is block-diagonal:
 *
 *   value = max_j ‖M e_j − A e_j‖ / max(‖A e_j‖, ‖M‖_F/√n),
 *
 * relative to the column, or to the root-mean-square column when the column is much smaller than that (a
 * nearly-zero column is all rounding). Cost: one product per column.
 */
export async function sampledColumnsCheck(
  operator: LinearOperator,
  matrix: Float32Array,
  columns: number[],
  tolerance: number,
  options: { blockIds?: Int32Array; reference?: string } = {},
): Promise<VerificationCheck> {
  const n = operator.size;
  const rms = norm(Float64Array.from(matrix)) / Math.sqrt(n);
  const values: number[] = [];
  for (const j of columns) {
    const unit = new Float64Array(n);
    unit[j] = 1;
    const fresh = await operator.matvec(unit);
    const ids = options.blockIds;
    const diff = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      if (ids && ids[i] !== ids[j]) fresh[i] = 0;
      diff[i] = matrix[i * n + j] - fresh[i];
    }
    const scale = Math.max(norm(fresh), rms);
    values.push(scale === 0 ? 0 : norm(diff) / scale);
  }
  const value = Math.max(0, ...values);
  return judged(
    'sampled_columns',
    value,
    tolerance,
    `Columns ${columns.join(', ')} against fresh products A e_j${options.reference ?? ''}: ` +
      `largest relative difference ${sci(value)}.`,
    { values },
  );
}
