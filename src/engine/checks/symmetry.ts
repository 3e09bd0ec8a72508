import type { VerificationCheck } from '../../contract/types.js';
import { judged, sci } from './check.js';

/** Symmetry residual ‖A − Aᵀ‖_F/‖A‖_F accepted for a dense result assembled column by column in float32. */
export const SYMMETRY_TOLERANCE = 1e-3;

/** The `symmetry` check of a dense result's raw (pre-symmetrization) residual. Cost: none (already computed). */
export function symmetryCheck(residual: number, tolerance = SYMMETRY_TOLERANCE): VerificationCheck {
  return judged(
    'symmetry',
    residual,
    tolerance,
    `‖A − Aᵀ‖/‖A‖ of the dense result before symmetrizing: ${sci(residual)}.`,
  );
}
