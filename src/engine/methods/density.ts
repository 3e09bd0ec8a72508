import { standardErrorCheck } from '../checks/estimate.js';
import { meanAndStandardError } from '../estimators/hutchinson.js';
import { stochasticLanczosQuadrature } from '../estimators/slq.js';
import type { Method, SpecOf } from './method.js';

/**
 * Eigenvalue spectral density by stochastic Lanczos quadrature (as in PyHessian): per probe, the nodes and
 * weights of a Gauss quadrature rule (weights sum to 1), and their Gaussian-smoothed average on a grid.
 * An approximation: its `standard_error` check reports how much the probes disagree on the density's mean,
 * Σᵢ τᵢ θᵢ ≈ tr(A)/n (exact per probe for that degree-1 moment, so the spread is the probes' sampling error).
 */
export const density: Method<SpecOf<'density'>> = async (ctx, spec) => {
  const steps = Math.min(ctx.objective.numParams, spec.steps);
  ctx.progress.plan(spec.probes * steps);
  const r = await stochasticLanczosQuadrature(ctx.operator(spec.curvature), {
    probes: spec.probes,
    steps,
    gridPoints: spec.gridPoints,
    sigma: spec.sigma,
    rng: ctx.rng,
  });
  ctx.progress.finish();
  const means = Float64Array.from(r.probes, (q) =>
    q.nodes.reduce((s, node, i) => s + q.weights[i] * node, 0),
  );
  const mean = meanAndStandardError(means);
  return {
    summary: {
      curvature: spec.curvature,
      steps,
      sigma: r.sigma,
      probes: r.probes.map((q) => ({ nodes: Array.from(q.nodes), weights: Array.from(q.weights) })),
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
};
