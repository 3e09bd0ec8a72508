/**
 * Conjugate gradients for (A + δI) x = b (Hestenes & Stiefel 1952; Nocedal & Wright, Numerical
 * Optimization, Alg. 5.2), from x₀ = 0:
 *
 *   α = rᵀr / pᵀ(A + δI)p,  x ← x + αp,  r ← r − α(A + δI)p,  p ← r + (r_newᵀr_new / rᵀr) p.
 *
 * CG needs A + δI positive definite. A curvature pᵀ(A + δI)p ≤ 0 along a search direction proves it is not
 * (the converse does not hold: CG only sees the directions it visits), and iterating further would move away
 * from any meaningful solution, so CG stops there and says so: Hessians of non-convex losses are often
 * indefinite, and a silent wrong "inverse" is worse than none.
 */
import { defaultCgIterations } from '../../contract/defaults.js';
import {
  applyOperator,
  batchedOperator,
  blockSizeOf,
  shiftedOperator,
  type LinearOperator,
} from './linear-operator.js';
import { axpy, dot, norm } from './dense-linalg.js';
import { checkInteger, checkPositive, checkVector } from './options.js';

export interface CgOptions {
  /** δ in (A + δI)x = b. @defaultValue 0 */
  damping?: number;
  /** Stop when ‖r‖/‖b‖ ≤ tol (recursive residual). @defaultValue 1e-6 */
  tol?: number;
  /** @defaultValue min(10n, 10000) */
  maxIter?: number;
  /** Called after each iteration; may be async, and may throw to cancel. */
  onIteration?: (progress: {
    iteration: number;
    maxIterations: number;
    relativeResidual: number;
  }) => void | Promise<void>;
}

export interface CgResult {
  x: Float64Array;
  /** ‖b − (A + δI)x‖, computed explicitly at the end with one more product (the recursive residual drifts
   *  in low precision). */
  residualNorm: number;
  /** residualNorm / ‖b‖ (0 when b = 0). */
  relativeResidual: number;
  /** ‖r‖ of the recurrence, the quantity the tolerance was checked on. */
  recursiveResidualNorm: number;
  iterations: number;
  converged: boolean;
  notPositiveDefinite: boolean;
  /** pᵀ(A + δI)p / pᵀp along the direction that showed A + δI is not positive definite. */
  curvatureAlongDirection?: number;
  /** Why CG stopped without converging. */
  message?: string;
}

/**
 * Solves (A + δI)x = b by conjugate gradients, stopping early when A + δI shows non-positive curvature.
 *
 * @throws EngineError('invalid_array') when b has the wrong length or non-finite entries.
 * @throws EngineError('invalid_method') for negative damping, tol ≤ 0 or maxIter < 1.
 * @throws whatever `op.matvec` or `onIteration` throws (e.g. cancellation).
 */
export async function conjugateGradient(
  op: LinearOperator,
  b: Float64Array,
  options: CgOptions = {},
): Promise<CgResult> {
  checkVector('b', b, op);
  const damping = checkPositive('damping', options.damping ?? 0, true);
  const tol = checkPositive('tol', options.tol ?? 1e-6);
  const n = op.size;
  const maxIter = checkInteger('maxIter', options.maxIter ?? defaultCgIterations(n), 1);
  const a = shiftedOperator(op, damping);

  const bNorm = norm(b);
  const x = new Float64Array(n);
  if (bNorm === 0) {
    const zero = { residualNorm: 0, relativeResidual: 0, recursiveResidualNorm: 0, iterations: 0 };
    return { x, ...zero, converged: true, notPositiveDefinite: false };
  }

  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  let rr = dot(r, r);
  let iterations = 0;
  let curvature: number | undefined;
  while (Math.sqrt(rr) / bNorm > tol && iterations < maxIter) {
    const ap = await applyOperator(a, p);
    const pAp = dot(p, ap);
    if (!(pAp > 0)) {
      curvature = pAp / dot(p, p);
      break;
    }
    const alpha = rr / pAp;
    axpy(alpha, p, x);
    axpy(-alpha, ap, r);
    const rrNext = dot(r, r);
    const beta = rrNext / rr;
    for (let i = 0; i < n; i++) p[i] = r[i] + beta * p[i];
    rr = rrNext;
    iterations++;
    await options.onIteration?.({
      iteration: iterations,
      maxIterations: maxIter,
      relativeResidual: Math.sqrt(rr) / bNorm,
    });
  }

  const recursiveResidualNorm = Math.sqrt(rr);
  const residual = Float64Array.from(b);
  if (iterations > 0) axpy(-1, await applyOperator(a, x), residual);
  const residualNorm = norm(residual);
  const result: CgResult = {
    x,
    residualNorm,
    relativeResidual: residualNorm / bNorm,
    recursiveResidualNorm,
    iterations,
    converged: curvature === undefined && recursiveResidualNorm / bNorm <= tol,
    notPositiveDefinite: curvature !== undefined,
  };
  if (curvature !== undefined) {
    result.curvatureAlongDirection = curvature;
    result.message =
      `A + δI (δ = ${damping}) is not positive definite: pᵀ(A + δI)p / pᵀp = ${curvature.toPrecision(4)} ` +
      `at iteration ${iterations + 1}; along this direction a damping above ${(damping - curvature).toPrecision(4)} ` +
      `is needed. Returning the iterate reached so far.`;
  } else if (!result.converged) {
    result.message = `CG reached maxIter = ${maxIter} with ‖r‖/‖b‖ = ${(recursiveResidualNorm / bNorm).toPrecision(3)} > tol = ${tol}.`;
  }
  return result;
}

/**
 * Solves (A + δI)xᵢ = bᵢ for each right-hand side bᵢ by {@link conjugateGradient}, in groups of the operator's block
 * size counted from the first: the solves of a group run side by side, their products gathered into block products
 * at each step (`batchedOperator`), and the groups one after another. A solve's iterates depend only on its group (a
 * block product's bits may depend on the directions it carries together), so solving any run of whole groups gives
 * the results a run over all of them gives, bit for bit.
 *
 * @throws as {@link conjugateGradient} does, for the first solve that throws.
 */
export async function conjugateGradientGroups(
  op: LinearOperator,
  bs: readonly Float64Array[],
  options: CgOptions = {},
): Promise<CgResult[]> {
  const group = blockSizeOf(op);
  const results: CgResult[] = [];
  for (let start = 0; start < bs.length; start += group) {
    const batched = batchedOperator(op);
    const solves = bs.slice(start, start + group).map((b) => conjugateGradient(batched, b, options));
    results.push(...(await Promise.all(solves)));
  }
  return results;
}
