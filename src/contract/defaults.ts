/**
 * Defaults that depend on the problem's size, in one place: the request normalisation fills them in before a job
 * is queued, and the estimators fall back to the same ones when called directly.
 */

/** Lanczos steps when none are asked for: min(n, max(2k + 20, 40)), enough for k extreme pairs in practice. */
export function defaultLanczosSteps(n: number, k: number): number {
  return Math.min(n, Math.max(2 * k + 20, 40));
}

/** CG iterations when none are asked for: 10·n, capped at 10 000. */
export function defaultCgIterations(n: number): number {
  return Math.min(10 * n, 10000);
}
