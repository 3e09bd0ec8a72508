import { standardErrorCheck } from '../checks/estimate.js';
import { hutchinsonDiagonal } from '../estimators/hutchinson.js';
import type { Method, SpecOf } from './method.js';

/** Hutchinson's diagonal estimator E[v ⊙ A v] with Rademacher v, with a standard error per entry (reported as
 *  the `standard_error` check: an approximation). */
export const diagonalEstimate: Method<SpecOf<'diagonal_estimate'>> = async (ctx, spec) => {
  const n = ctx.objective.numParams;
  ctx.progress.plan(spec.probes);
  const r = await hutchinsonDiagonal(ctx.operator(spec.curvature), { probes: spec.probes, rng: ctx.rng });
  let meanStandardError = 0;
  let maxStandardError = 0;
  for (const s of r.standardError) {
    meanStandardError += s / n;
    maxStandardError = Math.max(maxStandardError, s);
  }
  return {
    summary: { curvature: spec.curvature, probes: r.probes, meanStandardError },
    arrays: {
      'diagonal.npy': { dtype: 'float32', shape: [n], data: Float32Array.from(r.diagonal) },
      'diagonal_stderr.npy': { dtype: 'float32', shape: [n], data: Float32Array.from(r.standardError) },
    },
    curvature: spec.curvature,
    verify: async () => [
      standardErrorCheck(
        meanStandardError,
        `A stochastic estimate from ${r.probes} probes: mean per-entry standard error ` +
          `${meanStandardError.toExponential(2)}, largest ${maxStandardError.toExponential(2)}.`,
      ),
    ],
  };
};
