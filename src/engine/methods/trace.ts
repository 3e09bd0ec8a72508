import { standardErrorCheck } from '../checks/estimate.js';
import { exactDiagonalRange, kahanSum } from '../estimators/exact.js';
import { hutchinsonSamples, meanAndStandardError } from '../estimators/hutchinson.js';
import { hutchppTrace } from '../estimators/hutchpp.js';
import { blockSizeOf } from '../estimators/linear-operator.js';
import { derivedRng } from '../estimators/rng.js';
import type { Method, MethodOutput, SpecOf } from './method.js';
import { additiveCurvature, concatParts, type SplitMethod, splitOrWhole, valuesPart } from './split.js';

/** The `standard_error` check of a stochastic trace: an approximation, reported with its uncertainty. */
function estimateChecks(trace: number, standardError: number, products: number): MethodOutput['verify'] {
  const detail =
    standardError === 0
      ? `Standard error 0 after ${products} products: Hutch++ covered the whole operator, or every probe agreed.`
      : `A stochastic estimate from ${products} products: ${trace.toPrecision(6)} ± ` +
        `${standardError.toExponential(2)} (one standard error).`;
  return async () => [standardErrorCheck(standardError, detail)];
}

/** The exact trace's columns or Hutchinson's probes, in pieces; Hutch++ (a sketch, then probes) runs whole. */
export const traceSplit: SplitMethod<SpecOf<'trace'>> = {
  plan(ctx, spec) {
    if (spec.estimator === 'hutchpp') return null;
    const operator = ctx.operator(spec.curvature);
    return spec.estimator === 'exact'
      ? { unit: 'columns', units: operator.size, chunk: blockSizeOf(operator) }
      : { unit: 'probes', units: spec.probes, chunk: blockSizeOf(operator) };
  },
  async run(ctx, spec, start, end) {
    const operator = ctx.operator(spec.curvature);
    ctx.progress.plan(end - start);
    // Exact: the diagonal entries eⱼᵀAeⱼ. Hutchinson: vⱼᵀAvⱼ, probe j from its own stream (seed, j).
    const values =
      spec.estimator === 'exact'
        ? await exactDiagonalRange(operator, { start, end })
        : await hutchinsonSamples(operator, { start, end }, (j) =>
            derivedRng(ctx.seed, j).rademacherVector(operator.size),
          );
    return valuesPart(start, end, values);
  },
  // vⱼᵀAvⱼ and eⱼᵀAeⱼ are sums over examples.
  additive: (_ctx, spec) => additiveCurvature(spec.curvature, spec),
  async finish(_ctx, spec, parts) {
    const values = concatParts(parts, 'values') as Float64Array;
    const base = { curvature: spec.curvature, estimator: spec.estimator };
    if (spec.estimator === 'exact') {
      return {
        summary: { ...base, trace: kahanSum(values), standardError: 0 },
        arrays: {},
        curvature: spec.curvature,
      };
    }
    const r = meanAndStandardError(values);
    return {
      summary: { ...base, trace: r.mean, standardError: r.standardError, probes: values.length },
      arrays: {},
      curvature: spec.curvature,
      verify: estimateChecks(r.mean, r.standardError, values.length),
    };
  },
};

/** Hutch++: a sketch of the dominant subspace, then Hutchinson on the rest (one run, not split). */
const hutchpp: Method<SpecOf<'trace'>> = async (ctx, spec) => {
  const operator = ctx.operator(spec.curvature);
  ctx.progress.plan(spec.probes);
  const r = await hutchppTrace(operator, { matvecs: spec.probes, rng: ctx.rng });
  return {
    summary: {
      curvature: spec.curvature,
      estimator: spec.estimator,
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

/**
 * tr(H) or tr(G): Hutch++ (default; exact for rank ≤ probes/3, variance O(1/m²) otherwise), Hutchinson with
 * Rademacher probes (probe j drawn from (seed, j), so the estimate is the same however the job is split), or
 * exact from P unit-vector products. Standard errors reported for the stochastic ones.
 */
export const trace = splitOrWhole(traceSplit, hutchpp);
