import { standardErrorCheck } from '../checks/estimate.js';
import { meanAndStandardError } from '../estimators/hutchinson.js';
import { derivedRng } from '../estimators/rng.js';
import { quadratureRules, slqWave, smoothedDensity, type QuadratureRule } from '../estimators/slq.js';
import type { MethodContext, SpecOf } from './method.js';
import { concatParts, splitOrWhole, type SplitMethod } from './split.js';

type DensitySpec = SpecOf<'density'>;

/** Lanczos steps per probe: the request's, capped at P. */
const stepsOf = (ctx: MethodContext, spec: DensitySpec) => Math.min(ctx.objective.numParams, spec.steps);

/**
 * SLQ's probes in pieces of whole waves (the runs that go side by side, `slqWave`), probe j starting from a
 * Rademacher vector drawn from its own stream (seed, j). A piece holds its probes' nodes and weights as float64
 * [probes, steps] arrays (a probe that stopped early on a breakdown padded with zeros) and the number of nodes
 * of each (`sizes`); the grid, the density and the check come from every probe's rule as in a single run.
 */
export const densitySplit: SplitMethod<DensitySpec> = {
  plan(ctx, spec) {
    return {
      unit: 'runs',
      units: spec.probes,
      chunk: slqWave(ctx.operator(spec.curvature), stepsOf(ctx, spec)),
    };
  },
  async run(ctx, spec, start, end) {
    const n = ctx.objective.numParams;
    const steps = stepsOf(ctx, spec);
    ctx.progress.plan((end - start) * steps);
    const rules = await quadratureRules(ctx.operator(spec.curvature), { start, end }, steps, (j) =>
      derivedRng(ctx.seed, j).rademacherVector(n),
    );
    const count = end - start;
    const nodes = new Float64Array(count * steps);
    const weights = new Float64Array(count * steps);
    const sizes = new Int32Array(count);
    rules.forEach((q, j) => {
      nodes.set(q.nodes, j * steps);
      weights.set(q.weights, j * steps);
      sizes[j] = q.nodes.length;
    });
    return {
      start,
      end,
      values: {},
      arrays: {
        nodes: { dtype: 'float64', shape: [count, steps], data: nodes },
        weights: { dtype: 'float64', shape: [count, steps], data: weights },
        sizes: { dtype: 'int32', shape: [count], data: sizes },
      },
    };
  },
  async finish(ctx, spec, parts) {
    const steps = stepsOf(ctx, spec);
    const nodes = concatParts(parts, 'nodes') as Float64Array;
    const weights = concatParts(parts, 'weights') as Float64Array;
    const sizes = parts.flatMap((p) => {
      const a = p.arrays.sizes;
      if (a?.dtype !== 'int32' || a.data.length !== p.end - p.start) {
        throw new Error(`piece [${p.start}, ${p.end}) has no int32 sizes for its probes`);
      }
      return Array.from(a.data as Int32Array);
    });
    const rules: QuadratureRule[] = sizes.map((size, j) => ({
      nodes: nodes.slice(j * steps, j * steps + size),
      weights: weights.slice(j * steps, j * steps + size),
    }));
    const r = smoothedDensity(rules, { gridPoints: spec.gridPoints, sigma: spec.sigma });
    const means = Float64Array.from(rules, (q) => q.nodes.reduce((s, node, i) => s + q.weights[i] * node, 0));
    const mean = meanAndStandardError(means);
    return {
      summary: {
        curvature: spec.curvature,
        steps,
        sigma: r.sigma,
        probes: rules.map((q) => ({ nodes: Array.from(q.nodes), weights: Array.from(q.weights) })),
      },
      arrays: {
        'density_grid.npy': { dtype: 'float32', shape: [r.grid.length], data: Float32Array.from(r.grid) },
        'density.npy': { dtype: 'float32', shape: [r.density.length], data: Float32Array.from(r.density) },
      },
      curvature: spec.curvature,
      verify: async () => [
        standardErrorCheck(
          mean.standardError,
          `A stochastic estimate from ${spec.probes} probes: the density's mean eigenvalue (tr(A)/n) is ` +
            `${mean.mean.toPrecision(4)} ± ${mean.standardError.toExponential(2)} (one standard error).`,
        ),
      ],
    };
  },
};

/**
 * Eigenvalue spectral density by stochastic Lanczos quadrature (as in PyHessian): per probe, the nodes and
 * weights of a Gauss quadrature rule (weights sum to 1), and their Gaussian-smoothed average on a grid.
 * Probe j starts from a Rademacher vector drawn from (seed, j), so the estimate is the same however the job is
 * split. An approximation: its `standard_error` check reports how much the probes disagree on the density's mean,
 * Σᵢ τᵢ θᵢ ≈ tr(A)/n (exact per probe for that degree-1 moment, so the spread is the probes' sampling error).
 */
export const density = splitOrWhole(densitySplit);
