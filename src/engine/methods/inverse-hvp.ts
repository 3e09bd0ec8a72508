import { conjugateGradient } from '../estimators/cg.js';
import type { Method, SpecOf } from './method.js';
import { stackRows } from './vectors.js';

/**
 * Solves (A + δI) x = b for each given b by conjugate gradients (A = H or G), reporting the residual and the
 * iterations, and saying so when A + δI turned out not to be positive definite (CG then stops: its iterate is
 * not a solution, add damping δ or use the GGN, which is positive semi-definite for convex losses).
 */
export const inverseHvp: Method<SpecOf<'inverse_hvp'>> = async (ctx, spec) => {
  const n = ctx.objective.numParams;
  const maxIter = spec.maxIter ?? Math.min(10 * n, 10000);
  const vectors = ctx.vectors!;
  // CG uses at most min(maxIter, n) iterations plus one product for the true residual.
  ctx.progress.plan(vectors.length * (Math.min(maxIter, n) + 1));
  const operator = ctx.operator(spec.curvature);
  const solutions: Float64Array[] = [];
  const solves = [];
  for (const b of vectors) {
    const r = await conjugateGradient(operator, b, { damping: spec.damping, tol: spec.tol, maxIter });
    solutions.push(r.x);
    solves.push({
      iterations: r.iterations,
      converged: r.converged,
      residualNorm: r.residualNorm,
      relativeResidual: r.relativeResidual,
      notPositiveDefinite: r.notPositiveDefinite,
    });
  }
  ctx.progress.finish();
  const indefinite = solves.some((s) => s.notPositiveDefinite);
  return {
    summary: {
      curvature: spec.curvature,
      damping: spec.damping,
      solves,
      ...(indefinite && {
        warning: `${spec.curvature === 'ggn' ? 'G' : 'H'} + ${spec.damping}·I is not positive definite: CG stopped early and its result is not a solution. Increase damping or use curvature "ggn".`,
      }),
    },
    arrays: {
      'inverse_hvp.npy': { dtype: 'float32', shape: [vectors.length, n], data: stackRows(solutions, n) },
    },
    curvature: spec.curvature,
  };
};
