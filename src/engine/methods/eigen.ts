import { eigenResidualCheck } from '../checks/eigen-residuals.js';
import { lanczosEigs } from '../estimators/lanczos.js';
import type { Method, SpecOf } from './method.js';
import { stackRows } from '../../contract/vectors.js';

/**
 * k extreme eigenpairs by Lanczos with full reorthogonalization (largest algebraic by default, or smallest, or
 * largest magnitude), with the residual norms ‖A u − λ u‖ reported per pair (from the Lanczos relation). The
 * `eigen_residuals` check recomputes them from fresh products with the returned (float32) eigenvectors.
 */
export const eigen: Method<SpecOf<'eigen'>> = async (ctx, spec) => {
  const n = ctx.objective.numParams;
  // Filled in by prepareRequest (defaultLanczosSteps), like every default that depends on P.
  const maxIter = spec.maxIter!;
  ctx.progress.plan(maxIter);
  const r = await lanczosEigs(ctx.operator(spec.curvature), {
    k: spec.k,
    which: spec.which,
    maxIter,
    tol: spec.tol,
    rng: ctx.rng,
  });
  ctx.progress.finish();
  const stacked = stackRows(r.eigenvectors, n);
  return {
    summary: {
      curvature: spec.curvature,
      which: spec.which,
      eigenvalues: Array.from(r.eigenvalues),
      residualNorms: Array.from(r.explicitResidualNorms ?? r.residualNorms),
      iterations: r.iterations,
      converged: r.converged,
    },
    arrays: {
      'eigenvalues.npy': {
        dtype: 'float32',
        shape: [r.eigenvalues.length],
        data: Float32Array.from(r.eigenvalues),
      },
      'eigenvectors.npy': {
        dtype: 'float32',
        shape: [r.eigenvectors.length, n],
        data: stacked,
      },
    },
    curvature: spec.curvature,
    verify: async (check) => [
      await eigenResidualCheck(
        check.operator(spec.curvature),
        {
          eigenvalues: r.eigenvalues,
          eigenvectors: r.eigenvectors.map((_, i) => Float64Array.from(stacked.subarray(i * n, (i + 1) * n))),
        },
        { scale: r.ritzScale, tol: spec.tol, converged: r.converged, iterations: r.iterations },
      ),
    ],
  };
};
