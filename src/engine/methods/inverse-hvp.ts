import { inverseResidualCheck } from '../checks/inverse-residuals.js';
import { conjugateGradient } from '../estimators/cg.js';
import { batchedOperator } from '../estimators/linear-operator.js';
import type { Method, SpecOf } from './method.js';
import { stackRows } from '../../contract/vectors.js';

/**
 * Solves (A + δI) x = b for each given b by conjugate gradients (A = H or G), reporting the residual and the
 * iterations, and saying so when A + δI turned out not to be positive definite (CG then stops: its iterate is
 * not a solution, add damping δ or use the GGN, which is positive semi-definite for convex losses).
 *
 * A solve that did not converge still returns its iterate, with `summary.converged: false` and a failed
 * `inverse_hvp_residual` check (true residuals ‖(A + δI)x − b‖/‖b‖ from fresh products), so
 * `verification.passed` is false: the job succeeds, and says plainly that x is not a solution.
 */
export const inverseHvp: Method<SpecOf<'inverse_hvp'>> = async (ctx, spec) => {
  const n = ctx.objective.numParams;
  // Filled in by prepareRequest (defaultCgIterations), like every default that depends on P.
  const maxIter = spec.maxIter!;
  const vectors = ctx.vectors!;
  // CG uses at most min(maxIter, n) iterations plus one product for the true residual.
  ctx.progress.plan(vectors.length * (Math.min(maxIter, n) + 1));
  // The k solves run side by side, their products gathered into block products at each step.
  const operator = batchedOperator(ctx.operator(spec.curvature));
  const results = await Promise.all(
    vectors.map((b) => conjugateGradient(operator, b, { damping: spec.damping, tol: spec.tol, maxIter })),
  );
  const solutions: Float64Array[] = [];
  const solves = [];
  for (const r of results) {
    solutions.push(r.x);
    solves.push({
      iterations: r.iterations,
      converged: r.converged,
      residualNorm: r.residualNorm,
      relativeResidual: r.relativeResidual,
      notPositiveDefinite: r.notPositiveDefinite,
      ...(r.message && { message: r.message }),
    });
  }
  ctx.progress.finish();
  const converged = solves.every((s) => s.converged);
  const matrix = spec.curvature === 'ggn' ? 'G' : 'H';
  const reason = solves.some((s) => s.notPositiveDefinite)
    ? `${matrix} + ${spec.damping}·I is not positive definite, so CG stopped early`
    : `CG did not reach tol = ${spec.tol} within maxIter = ${maxIter}`;
  const advice = solves.some((s) => s.notPositiveDefinite)
    ? 'Increase damping or use curvature "ggn".'
    : 'Raise maxIter or damping.';
  const stacked = stackRows(solutions, n);
  return {
    summary: {
      curvature: spec.curvature,
      damping: spec.damping,
      converged,
      solves,
      ...(!converged && { warning: `${reason}: its result is not a solution. ${advice}` }),
    },
    arrays: {
      'inverse_hvp.npy': { dtype: 'float32', shape: [vectors.length, n], data: stacked },
    },
    curvature: spec.curvature,
    verify: async (check) => [
      await inverseResidualCheck(
        check.operator(spec.curvature),
        {
          damping: spec.damping,
          rhs: vectors,
          solutions: solutions.map((_, i) => Float64Array.from(stacked.subarray(i * n, (i + 1) * n))),
        },
        { tol: spec.tol, converged, reason },
      ),
    ],
  };
};
