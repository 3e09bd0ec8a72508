import { axpy, norm } from '../estimators/dense-linalg.js';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { VerificationCheck } from '../../contract/types.js';
import { judged, sci } from './check.js';

/** What float32 products add to a residual Lanczos already bounds by tol: at most 2.5e-7 of max|θ| on the golden
 *  cases with tol = 1e-9 (docs/engine.md), so 1e-5 leaves a margin of 40. */
export const EIGEN_RESIDUAL_FLOOR = 1e-5;

/**
 * Residuals of returned eigenpairs from fresh products, relative to the spectral scale (the largest |Ritz value|,
 * the scale Lanczos's own tolerance uses):
 *
 *   rᵢ = ‖A vᵢ − λᵢ vᵢ‖ / max_j |θ_j|,  passed when Lanczos converged and every rᵢ ≤ tol + floor.
 *
 * Unlike the residuals Lanczos reports (|β_m s_{m,i}|, from its recurrence), these see a loss of
 * orthogonality, a wrong Ritz vector, or a corrupted output. Cost: one product per eigenpair.
 */
export async function eigenResidualCheck(
  operator: LinearOperator,
  pairs: { eigenvalues: ArrayLike<number>; eigenvectors: Float64Array[] },
  options: { scale: number; tol: number; converged: boolean; iterations?: number },
): Promise<VerificationCheck> {
  const tolerance = options.tol + EIGEN_RESIDUAL_FLOOR;
  const values: number[] = [];
  for (const [i, v] of pairs.eigenvectors.entries()) {
    const residual = Float64Array.from(await operator.matvec(v));
    axpy(-pairs.eigenvalues[i], v, residual);
    values.push(options.scale === 0 ? norm(residual) : norm(residual) / options.scale);
  }
  const value = Math.max(0, ...values);
  const convergence = options.converged
    ? ''
    : ` Lanczos did not converge${options.iterations ? ` in ${options.iterations} steps` : ''}: raise maxIter.`;
  return judged(
    'eigen_residuals',
    value,
    tolerance,
    `‖A v − λ v‖ / max|λ| of each eigenpair from fresh products: largest ${sci(value)}.${convergence}`,
    { values, ok: options.converged },
  );
}
