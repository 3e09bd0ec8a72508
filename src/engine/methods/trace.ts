import { standardErrorCheck } from '../checks/estimate.js';
import { exactTrace } from '../estimators/exact.js';
import { hutchinsonTrace } from '../estimators/hutchinson.js';
import { hutchppTrace } from '../estimators/hutchpp.js';
import type { Method, MethodOutput, SpecOf } from './method.js';

/** The `standard_error` check of a stochastic trace: an approximation, reported with its uncertainty. */
function estimateChecks(trace: number, standardError: number, products: number): MethodOutput['verify'] {
  const detail =
    standardError === 0
      ? `Standard error 0 after ${products} products: Hutch++ covered the whole operator, or every probe agreed.`
      : `A stochastic estimate from ${products} products: ${trace.toPrecision(6)} ± ` +
        `${standardError.toExponential(2)} (one standard error).`;
  return async () => [standardErrorCheck(standardError, detail)];
}

/**
 * tr(H) or tr(G): Hutch++ (default; exact for rank ≤ probes/3, variance O(1/m²) otherwise), Hutchinson with
 * Rademacher probes, or exact from P unit-vector products. Standard errors reported for the stochastic ones.
 */
export const trace: Method<SpecOf<'trace'>> = async (ctx, spec) => {
  const operator = ctx.operator(spec.curvature);
  const base = { curvature: spec.curvature, estimator: spec.estimator };
  if (spec.estimator === 'exact') {
    ctx.progress.plan(operator.size);
    return {
      summary: { ...base, trace: await exactTrace(operator), standardError: 0 },
      arrays: {},
      curvature: spec.curvature,
    };
  }
  ctx.progress.plan(spec.probes);
  if (spec.estimator === 'hutchinson') {
    const r = await hutchinsonTrace(operator, { probes: spec.probes, rng: ctx.rng });
    return {
      summary: { ...base, trace: r.trace, standardError: r.standardError, probes: r.probes },
      arrays: {},
      curvature: spec.curvature,
      verify: estimateChecks(r.trace, r.standardError, r.probes),
    };
  }
  const r = await hutchppTrace(operator, { matvecs: spec.probes, rng: ctx.rng });
  return {
    summary: {
      ...base,
      trace: r.trace,
      standardError: r.standardError,
      matvecs: r.matvecs,
      sketchRank: r.sketchRank,
      probes: r.probes,
    },
    arrays: {},
    curvature: spec.curvature,
    verify: estimateChecks(r.trace, r.standardError, r.matvecs),
  };
};
