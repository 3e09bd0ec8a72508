/**
 * Extreme eigenpairs of a symmetric operator by the Lanczos method with full reorthogonalization (see
 * {@link LanczosProcess}) and Rayleigh–Ritz on the tridiagonal T_m.
 *
 * For a Ritz pair (θᵢ, yᵢ = V_m sᵢ) with T_m sᵢ = θᵢ sᵢ, the Lanczos relation gives the residual without a
 * product: ‖A yᵢ − θᵢ yᵢ‖ = |β_m| · |e_mᵀ sᵢ| (Parlett 1998, §13.2). Iteration stops once the k wanted pairs
 * satisfy |β_m s_{m,i}| ≤ tol · max_j |θ_j|, or at maxIter, or when the Krylov space is the whole space
 * (m = n, where the Ritz values are the eigenvalues).
 *
 * Breakdown (β_m ≈ 0: the Krylov space is invariant) restarts from a random vector orthogonal to the basis,
 * and T becomes block diagonal. A Krylov space from a random vector holds one copy of each distinct
 * eigenvalue, so restarts are what find multiplicities: the eigenvalues of each new block are (in exact
 * arithmetic) a subset of the previous block's. Hence, after a restart, iteration stops early only once the
 * latest block's extreme Ritz values have converged and could not improve the wanted set, i.e. are not
 * strictly beyond the k-th wanted value; otherwise a repeated wanted eigenvalue could be missed.
 */
import { defaultLanczosSteps } from '../../contract/defaults.js';
import { EngineError } from '../../contract/errors.js';
import { applyOperator, type LinearOperator } from './linear-operator.js';
import { axpy, norm, scale, symmetricTridiagonalEigen, tridiagonalEigenRows } from './dense-linalg.js';
import { LanczosProcess } from './lanczos-process.js';
import { checkInteger, checkPositive, checkVector } from './options.js';
import { createRng, type Rng } from './rng.js';

export type EigenWhich = 'largest' | 'smallest' | 'magnitude';

export interface LanczosProgress {
  iteration: number;
  maxIterations: number;
  /** How many of the k wanted Ritz pairs currently meet the tolerance. */
  convergedCount: number;
}

export interface LanczosOptions {
  /** Number of eigenpairs wanted, 1 ≤ k ≤ n. */
  k: number;
  /** Largest algebraic, smallest algebraic, or largest |λ|. @defaultValue 'largest' */
  which?: EigenWhich;
  /** Lanczos steps (= products with A), at most n. @defaultValue min(n, max(2k + 20, 40)) */
  maxIter?: number;
  /** Relative residual tolerance: ‖A y − θ y‖ ≤ tol · max|θ|. @defaultValue 1e-5 */
  tol?: number;
  /** Source of the start vector and of restart vectors. @defaultValue createRng(0) */
  rng?: Rng;
  /** Start vector instead of a random one. */
  start?: Float64Array;
  /** Also compute ‖A y − θ y‖ with k extra products. @defaultValue false */
  explicitResiduals?: boolean;
  /** Called after every step; may be async, and may throw to cancel. */
  onStep?: (progress: LanczosProgress) => void | Promise<void>;
}

export interface LanczosEigsResult {
  /** k eigenvalues ordered by `which`: descending, ascending, or by descending |λ|. */
  eigenvalues: Float64Array;
  /** Unit-norm Ritz vectors, `eigenvectors[i]` for `eigenvalues[i]`. */
  eigenvectors: Float64Array[];
  /** |β_m s_{m,i}| = ‖A yᵢ − θᵢ yᵢ‖ from the Lanczos relation. */
  residualNorms: Float64Array;
  /** ‖A yᵢ − θᵢ yᵢ‖ computed explicitly, when requested. */
  explicitResidualNorms?: Float64Array;
  /** Lanczos steps taken, one product with A each (`explicitResiduals` adds k more products). */
  iterations: number;
  /** All k wanted pairs meet the tolerance. */
  converged: boolean;
  /** max |θ| over every Ritz value of T_m: the scale the tolerance is relative to (≤ the spectral radius). */
  ritzScale: number;
  /** Restarts after breakdowns (invariant Krylov subspaces). */
  restarts: number;
}

/**
 * k extreme eigenpairs of the symmetric operator `op` by Lanczos with full reorthogonalization.
 *
 * @throws EngineError('invalid_method') for k outside [1, n], maxIter < k, or tol ≤ 0.
 * @throws whatever `op.matvec` or `onStep` throws (e.g. cancellation).
 */
export async function lanczosEigs(op: LinearOperator, options: LanczosOptions): Promise<LanczosEigsResult> {
  const n = op.size;
  const k = checkInteger('k', options.k, 1, n);
  const which = options.which ?? 'largest';
  const maxIter = Math.min(n, checkInteger('maxIter', options.maxIter ?? defaultLanczosSteps(n, k), 1));
  if (maxIter < k) throw new EngineError('invalid_method', `maxIter (${maxIter}) must be at least k (${k})`);
  const tol = checkPositive('tol', options.tol ?? 1e-5);
  const rng = options.rng ?? createRng(0);
  const start = options.start ? checkVector('start', options.start, op) : rng.gaussianVector(n);

  const lanczos = new LanczosProcess(op, start);
  const blockStarts = [0];
  let check = { canStop: false, count: 0 };
  while (lanczos.steps < maxIter) {
    let outcome = await lanczos.step();
    if (outcome === 'breakdown' && lanczos.steps < maxIter) {
      if (lanczos.restart(rng)) blockStarts.push(lanczos.steps);
      else outcome = 'exhausted';
    }
    check = checkConvergence(lanczos, k, which, tol, blockStarts);
    await options.onStep?.({ iteration: lanczos.steps, maxIterations: maxIter, convergedCount: check.count });
    if (outcome === 'exhausted' || check.canStop) break;
  }

  const m = lanczos.steps;
  const t = symmetricTridiagonalEigen(lanczos.alpha, lanczos.offDiagonal());
  const wanted = selectWanted(t.eigenvalues, Math.min(k, m), which);
  const beta = Math.abs(lanczos.residualBeta);
  const eigenvectors = wanted.map((i) => {
    const y = new Float64Array(n);
    t.eigenvectors[i].forEach((s, j) => axpy(s, lanczos.basis[j], y));
    return scale(1 / norm(y), y);
  });
  const eigenvalues = Float64Array.from(wanted, (i) => t.eigenvalues[i]);
  const result: LanczosEigsResult = {
    eigenvalues,
    eigenvectors,
    residualNorms: Float64Array.from(wanted, (i) => beta * Math.abs(t.eigenvectors[i][m - 1])),
    iterations: m,
    converged: check.count === k,
    ritzScale: Math.max(Math.abs(t.eigenvalues[0]), Math.abs(t.eigenvalues[m - 1])),
    restarts: blockStarts.length - 1,
  };
  if (options.explicitResiduals) {
    result.explicitResidualNorms = new Float64Array(eigenvectors.length);
    for (let i = 0; i < eigenvectors.length; i++) {
      const r = Float64Array.from(await applyOperator(op, eigenvectors[i]));
      result.explicitResidualNorms[i] = norm(axpy(-eigenvalues[i], eigenvectors[i], r));
    }
  }
  return result;
}

/** Indices into ascending `theta` of the k wanted values, in output order. */
function selectWanted(theta: Float64Array, k: number, which: EigenWhich): number[] {
  const m = theta.length;
  const indices = Array.from({ length: m }, (_, i) => i);
  if (which === 'smallest') return indices.slice(0, k);
  if (which === 'largest') return indices.reverse().slice(0, k);
  return indices.sort((a, b) => Math.abs(theta[b]) - Math.abs(theta[a])).slice(0, k);
}

/** Is x strictly beyond `reference` in the direction `which` prefers, by more than `margin`? */
function isBeyond(x: number, reference: number, which: EigenWhich, margin: number): boolean {
  if (which === 'largest') return x > reference + margin;
  if (which === 'smallest') return x < reference - margin;
  return Math.abs(x) > Math.abs(reference) + margin;
}

/**
 * `count`: wanted Ritz pairs within tolerance. `canStop`: all k are, and no later restart block could add a
 * wanted eigenvalue (see the module comment).
 */
function checkConvergence(
  lanczos: LanczosProcess,
  k: number,
  which: EigenWhich,
  tol: number,
  blockStarts: readonly number[],
): { canStop: boolean; count: number } {
  const m = lanczos.steps;
  const beta = Math.abs(lanczos.residualBeta);
  const offDiagonal = lanczos.offDiagonal();
  const { eigenvalues: theta, rows } = tridiagonalEigenRows(lanczos.alpha, offDiagonal, [m - 1]);
  const threshold = tol * Math.max(Math.abs(theta[0]), Math.abs(theta[m - 1]));
  const wanted = selectWanted(theta, Math.min(k, m), which);
  const count = wanted.filter((i) => beta * Math.abs(rows[0][i]) <= threshold).length;
  if (count < k || blockStarts.length === 1) return { canStop: count === k, count };

  // The latest block with at least one step: the current one, or the one that just broke down (exact).
  const last = blockStarts[blockStarts.length - 1];
  const [from, to] = last < m ? [last, m] : [blockStarts[blockStarts.length - 2], last];
  const block = tridiagonalEigenRows(lanczos.alpha.slice(from, to), offDiagonal.slice(from, to - 1), [
    to - from - 1,
  ]);
  const blockBeta = to === m ? beta : 0;
  const kth = theta[wanted[k - 1]];
  const ends = which === 'largest' ? [to - from - 1] : which === 'smallest' ? [0] : [0, to - from - 1];
  const canStop = ends.every(
    (i) =>
      blockBeta * Math.abs(block.rows[0][i]) <= threshold &&
      !isBeyond(block.eigenvalues[i], kth, which, threshold),
  );
  return { canStop, count };
}
