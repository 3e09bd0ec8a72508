import { inverseResidualCheck } from '../checks/inverse-residuals.js';
import { conjugateGradientGroups } from '../estimators/cg.js';
import { blockSizeOf } from '../estimators/linear-operator.js';
import type { MethodContext, MethodOutput, SpecOf } from './method.js';
import { concatParts, splitOrWhole, type PartialResult, type SplitMethod } from './split.js';
import { stackRows } from '../../contract/vectors.js';

type InverseSpec = SpecOf<'inverse_hvp'>;

/** What the summary says of one solve. */
interface Solve {
  iterations: number;
  converged: boolean;
  residualNorm: number;
  relativeResidual: number;
  notPositiveDefinite: boolean;
  message?: string;
}

/**
 * The solves of right-hand sides [start, end) (start a multiple of the operator's block size), in the groups
 * `conjugateGradientGroups` forms counted from start: their solutions as float64 rows and what the summary says of
 * each solve.
 */
async function solveRange(
  ctx: MethodContext,
  spec: InverseSpec,
  start: number,
  end: number,
): Promise<PartialResult> {
  const n = ctx.objective.numParams;
  // Filled in by prepareRequest (defaultCgIterations), like every default that depends on P.
  const maxIter = spec.maxIter!;
  // CG uses at most min(maxIter, n) iterations plus one product for the true residual.
  ctx.progress.plan((end - start) * (Math.min(maxIter, n) + 1));
  const options = { damping: spec.damping, tol: spec.tol, maxIter };
  const rhs = ctx.vectors!.slice(start, end);
  const results = await conjugateGradientGroups(ctx.operator(spec.curvature), rhs, options);
  const solutions = new Float64Array((end - start) * n);
  const solves: Solve[] = results.map((r, i) => {
    solutions.set(r.x, i * n);
    return {
      iterations: r.iterations,
      converged: r.converged,
      residualNorm: r.residualNorm,
      relativeResidual: r.relativeResidual,
      notPositiveDefinite: r.notPositiveDefinite,
      ...(r.message && { message: r.message }),
    };
  });
  return {
    start,
    end,
    values: { solves },
    arrays: { solutions: { dtype: 'float64', shape: [end - start, n], data: solutions } },
  };
}

/** The output from every right-hand side's solution and solve, in order. */
function solvesOutput(ctx: MethodContext, spec: InverseSpec, parts: PartialResult[]): MethodOutput {
  const n = ctx.objective.numParams;
  const vectors = ctx.vectors!;
  const maxIter = spec.maxIter!;
  const all = concatParts(parts, 'solutions') as Float64Array;
  const solves = parts.flatMap((p) => {
    const s = p.values.solves;
    if (!Array.isArray(s) || s.length !== p.end - p.start) {
      throw new Error(`piece [${p.start}, ${p.end}) has no solves for its right-hand sides`);
    }
    return s as Solve[];
  });
  const solutions = vectors.map((_, i) => all.subarray(i * n, (i + 1) * n));
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
}

/**
 * Several right-hand sides in pieces of whole CG groups (the operator's block size, the solves that run side by
 * side): a piece holds its solutions as float64 rows and each solve's iterations, convergence and residual, so the
 * combined output, its warning and its check are the single run's. One right-hand side runs whole.
 */
export const inverseHvpSplit: SplitMethod<InverseSpec> = {
  plan(ctx, spec) {
    const k = ctx.vectors!.length;
    return k > 1 ? { unit: 'vectors', units: k, chunk: blockSizeOf(ctx.operator(spec.curvature)) } : null;
  },
  run: solveRange,
  async finish(ctx, spec, parts) {
    return solvesOutput(ctx, spec, parts);
  },
};

/**
 * Solves (A + δI) x = b for each given b by conjugate gradients (A = H or G), reporting the residual and the
 * iterations, and saying so when A + δI turned out not to be positive definite (CG then stops: its iterate is
 * not a solution, add damping δ or use the GGN, which is positive semi-definite for convex losses). The solves
 * run side by side in groups of the operator's block size, split by groups across a job's pieces.
 *
 * A solve that did not converge still returns its iterate, with `summary.converged: false` and a failed
 * `inverse_hvp_residual` check (true residuals ‖(A + δI)x − b‖/‖b‖ from fresh products), so
 * `verification.passed` is false: the job succeeds, and says plainly that x is not a solution.
 */
export const inverseHvp = splitOrWhole(inverseHvpSplit, async (ctx, spec) =>
  solvesOutput(ctx, spec, [await solveRange(ctx, spec, 0, ctx.vectors!.length)]),
);
