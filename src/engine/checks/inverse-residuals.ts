import { axpy, norm } from '../estimators/dense-linalg.js';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { VerificationCheck } from '../../contract/types.js';
import { judged, sci } from './check.js';

/** What float32 products add to the residual CG's recurrence bounds by tol: the true residual drifts from the
 *  recursive one by up to 1.6e-5 on the golden cases at condition numbers up to ~1.5e3 (docs/engine.md). */
export const INVERSE_RESIDUAL_FLOOR = 1e-4;

/**
 * True residuals of solutions x of (A + δI) x = b from fresh products, not from CG's recurrence:
 *
 *   rᵢ = ‖(A + δI) xᵢ − bᵢ‖ / ‖bᵢ‖   (‖(A + δI) xᵢ‖ when bᵢ = 0),
 *
 * passed when every solve converged (CG met its tolerance without meeting non-positive curvature) and every
 * rᵢ ≤ tol + floor. Cost: one product per right-hand side.
 */
export async function inverseResidualCheck(
  operator: LinearOperator,
  system: { damping: number; rhs: Float64Array[]; solutions: Float64Array[] },
  options: { tol: number; converged: boolean; reason?: string },
): Promise<VerificationCheck> {
  const tolerance = options.tol + INVERSE_RESIDUAL_FLOOR;
  const values: number[] = [];
  for (const [i, x] of system.solutions.entries()) {
    const residual = Float64Array.from(await operator.matvec(x));
    axpy(system.damping, x, residual);
    axpy(-1, system.rhs[i], residual);
    const bNorm = norm(system.rhs[i]);
    values.push(bNorm === 0 ? norm(residual) : norm(residual) / bNorm);
  }
  const value = Math.max(0, ...values);
  return judged(
    'inverse_hvp_residual',
    value,
    tolerance,
    `‖(A + δI)x − b‖/‖b‖ per right-hand side from fresh products: largest ${sci(value)}` +
      (options.converged ? '.' : `; x is not a solution: ${options.reason ?? 'CG did not converge'}.`),
    { values, ok: options.converged },
  );
}
