import { stochasticLanczosQuadrature } from '../estimators/slq.js';
import type { Method, SpecOf } from './method.js';

/**
 * Eigenvalue spectral density by stochastic Lanczos quadrature (as in PyHessian): per probe, the nodes and
 * weights of a Gauss quadrature rule (weights sum to 1), and their Gaussian-smoothed average on a grid.
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
  };
};
