import type { VerificationCheck } from '../../contract/types.js';

/**
 * The `standard_error` check of a stochastic estimate: it reports the estimate's uncertainty, never judges it,
 * and never claims exactness (an estimate within its standard error can still be off by several). Inconclusive
 * when no standard error exists (a single probe). Cost: none (the estimator already computed it).
 */
export function standardErrorCheck(standardError: number, detail: string): VerificationCheck {
  const known = Number.isFinite(standardError);
  return {
    name: 'standard_error',
    passed: known,
    value: known ? standardError : null,
    tolerance: null,
    inconclusive: !known,
    approximation: true,
    detail: known ? detail : `${detail} No standard error: a single probe has no sample variance.`,
  };
}
