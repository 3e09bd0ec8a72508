/**
 * Hutch++ trace estimation (Meyer, Musco, Musco & Woodruff, "Hutch++: Optimal Stochastic Trace Estimation",
 * SOSA 2021).
 *
 * With a budget of m products: sketch S (n × m/3, Rademacher), Q = orth(A S), then
 *
 *   tr(A) = tr(Qᵀ A Q) + tr((I − QQᵀ) A (I − QQᵀ)),
 *
 * the first term exactly (one product per column of Q) and the second by Hutchinson with the remaining
 * products. The deflated matrix has the top of the spectrum removed, so for matrices with decaying
 * eigenvalues the error falls as O(1/m) rather than Hutchinson's O(1/√m). If rank(A) ≤ m/3, Q spans the
 * range of A, the deflated matrix is zero and the estimate is exact. Columns of A S that are numerically
 * dependent add nothing to Q, and the products they would have cost go to the Hutchinson part instead.
 *
 * When the budget covers n products, the exact trace from the unit vectors costs no more than any sketch, has
 * no variance, and does not depend on the sketch having full rank (small Rademacher sketches often do not), so
 * it is what is returned.
 */
import { applyBlock, type LinearOperator } from './linear-operator.js';
import { dot, orthogonalizeAgainst, thinQr } from './dense-linalg.js';
import { exactTrace } from './exact.js';
import { hutchinsonTrace, meanAndStandardError } from './hutchinson.js';
import { checkInteger } from './options.js';
import { createRng, type Rng } from './rng.js';

export interface HutchppOptions {
  /** Total budget of products with A, ≥ 1. Below 3 there is no room for a sketch: plain Hutchinson. */
  matvecs: number;
  /** @defaultValue createRng(0) */
  rng?: Rng;
}

export interface HutchppEstimate {
  trace: number;
  /** Standard error of the Hutchinson part (the sketch part is exact given Q); 0 for the exact trace, NaN
   *  with a single residual probe. */
  standardError: number;
  /** Products with A actually used (≤ the budget). */
  matvecs: number;
  /** Columns of Q: the dimension of the deflated subspace. */
  sketchRank: number;
  /** Probes of the Hutchinson part. */
  probes: number;
}

/**
 * Estimates tr(A) by Hutch++ with at most `matvecs` products with A.
 *
 * @throws EngineError('invalid_method') when matvecs < 1.
 */
export async function hutchppTrace(op: LinearOperator, options: HutchppOptions): Promise<HutchppEstimate> {
  const budget = checkInteger('matvecs', options.matvecs, 1);
  const rng = options.rng ?? createRng(0);
  const n = op.size;
  if (budget >= n) {
    return { trace: await exactTrace(op), standardError: 0, matvecs: n, sketchRank: n, probes: 0 };
  }
  if (budget < 3) {
    const h = await hutchinsonTrace(op, { probes: budget, rng });
    return { trace: h.trace, standardError: h.standardError, matvecs: budget, sketchRank: 0, probes: budget };
  }

  const sketchSize = Math.floor(budget / 3);
  const sketch = await applyBlock(
    op,
    Array.from({ length: sketchSize }, () => rng.rademacherVector(n)),
  );
  const { q } = thinQr(sketch);

  let exactPart = 0;
  (await applyBlock(op, q)).forEach((aq, j) => (exactPart += dot(q[j], aq)));
  const probes = budget - sketchSize - q.length; // ≥ budget/3, since rank(Q) ≤ sketchSize
  // gᵀ(I − QQᵀ)A(I − QQᵀ)g = wᵀAw with w = (I − QQᵀ)g, since I − QQᵀ is a symmetric projector.
  const ws = Array.from({ length: probes }, () => orthogonalizeAgainst(rng.rademacherVector(n), q));
  const samples = Float64Array.from(await applyBlock(op, ws), (aw, p) => dot(ws[p], aw));
  const residual = meanAndStandardError(samples);
  return {
    trace: exactPart + residual.mean,
    standardError: residual.standardError,
    matvecs: budget,
    sketchRank: q.length,
    probes,
  };
}
