import { sampleIndices } from '../checks/check.js';
import { SAMPLED_COLUMNS, sampledColumnsCheck } from '../checks/sampled-columns.js';
import { blockGradients, blockSizeFor } from '../operators/block.js';
import { lossGradient } from '../operators/hessian-operator.js';
import { symmetrize, symmetryResidual } from './dense-columns.js';
import { guardDense } from '../../contract/guards.js';
import type { MethodContext, MethodOutput, SpecOf } from './method.js';
import { concatParts, rowsArray, splitOrWhole, type SplitMethod } from './split.js';

type Spec = SpecOf<'finite_difference'>;

/** ε_float32^(1/3): balances O(h²) truncation against O(ε/h) rounding for central differences. */
const CUBE_ROOT_EPS_F32 = Math.cbrt(2 ** -23);
/** Relative disagreement between two step sizes above which a column is treated as straddling a kink. */
const CONSISTENCY = 0.02;
const MAX_HALVINGS = 4;
/** Accepted difference between a finite-difference column and the exact Hessian-vector product, and accepted
 *  raw asymmetry: float32 central differences with Richardson extrapolation are off by up to 2e-2 per column
 *  on the golden cases (docs/engine.md). */
export const FD_COLUMN_TOLERANCE = 5e-2;

function difference(a: Float64Array, b: Float64Array, scale: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] - b[i]) / scale;
  return out;
}

function relativeGap(a: Float64Array, b: Float64Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    norm = Math.max(norm, Math.abs(a[i]), Math.abs(b[i]));
  }
  return norm === 0 ? 0 : diff / norm;
}

/** What columns [start, end) of the finite-difference Hessian came to: their rows and how each was resolved. */
interface Columns {
  /** Column j stored as row j − start, float32 [end − start, P]. */
  rows: Float32Array;
  /** Each column's error estimate. */
  errors: Float64Array;
  /** Columns whose two steps disagreed (a kink within the step). */
  kinkColumns: number;
  /** Of those, columns no one-sided difference resolved within {@link CONSISTENCY}. */
  unresolvedColumns: number;
}

/** Columns a chunk of which go through one block of gradient evaluations (four points per column). */
function columnChunk(objective: MethodContext['objective']): number {
  return Math.max(1, Math.floor(blockSizeFor(objective) / 4));
}

/**
 * Columns [start, end) (start a multiple of {@link columnChunk}), each as {@link finiteDifference} describes. Every
 * chunk's first attempt is the block evaluation the single run computes, and the gradient at θ₀ is computed the
 * same way in every piece, so a column is the same bits whichever piece computes it.
 */
async function differenceColumns(
  ctx: MethodContext,
  spec: Spec,
  start: number,
  end: number,
): Promise<Columns> {
  const { objective } = ctx;
  const n = objective.numParams;
  const theta = objective.theta.dataSync() as Float32Array;
  const g0 = lossGradient(objective, theta);
  const rows = new Float32Array((end - start) * n);
  const errors = new Float64Array(end - start);
  let kinkColumns = 0;
  let unresolvedColumns = 0;
  const shifted = new Float32Array(theta);
  const gradientAt = (j: number, s: number) => {
    shifted[j] = theta[j] + s;
    const g = lossGradient(objective, shifted);
    shifted[j] = theta[j];
    return g;
  };

  const stepOf = (j: number) => spec.step ?? CUBE_ROOT_EPS_F32 * Math.max(1, Math.abs(theta[j]));
  // The first attempt's four gradients of a chunk of columns come from block evaluations (k points per pass).
  const firstAttempt = new Map<number, Float64Array[]>();
  const chunk = columnChunk(objective);
  for (let j = start; j < end; j++) {
    if (!firstAttempt.has(j)) {
      firstAttempt.clear();
      const columns = Array.from({ length: Math.min(chunk, end - j) }, (_, c) => j + c);
      const points = columns.flatMap((col) =>
        [1, -1, 0.5, -0.5].map((f) => {
          const p = new Float32Array(theta);
          p[col] = theta[col] + f * stepOf(col);
          return p;
        }),
      );
      const gradients = blockGradients(objective, points, (p) => lossGradient(objective, p));
      columns.forEach((col, c) => firstAttempt.set(col, gradients.slice(4 * c, 4 * c + 4)));
    }
    let h = stepOf(j);
    let column: Float64Array | undefined;
    let straddled = false;
    for (let attempt = 0; attempt <= MAX_HALVINGS && !column; attempt++, h /= 4) {
      const [plus, minus, plusHalf, minusHalf] =
        attempt === 0
          ? firstAttempt.get(j)!
          : [gradientAt(j, h), gradientAt(j, -h), gradientAt(j, h / 2), gradientAt(j, -h / 2)];
      const wide = difference(plus, minus, 2 * h);
      const narrow = difference(plusHalf, minusHalf, h);
      const gap = relativeGap(wide, narrow);
      if (gap <= CONSISTENCY) {
        column = wide.map((w, i) => (4 * narrow[i] - w) / 3);
        errors[j - start] = gap / 3;
        break;
      }
      straddled = true;
      const right = [difference(plusHalf, g0, h / 2), difference(plus, g0, h)];
      const left = [difference(g0, minusHalf, h / 2), difference(g0, minus, h)];
      const rightGap = relativeGap(right[0], right[1]);
      const leftGap = relativeGap(left[0], left[1]);
      const [best, bestGap] = rightGap <= leftGap ? [right, rightGap] : [left, leftGap];
      if (bestGap <= CONSISTENCY || attempt === MAX_HALVINGS) {
        // One-sided differences are first order: 2·D(h/2) − D(h) cancels the O(h) term.
        column = best[0].map((x, i) => 2 * x - best[1][i]);
        errors[j - start] = bestGap;
        if (bestGap > CONSISTENCY) unresolvedColumns++;
      }
    }
    if (straddled) kinkColumns++;
    rows.set(column!, (j - start) * n);
    await ctx.progress.unit();
  }
  return { rows, errors, kinkColumns, unresolvedColumns };
}

/** The method's output from every column: the raw asymmetry reported, the matrix symmetrized (in place), checked. */
function differenceOutput(spec: Spec, n: number, columns: Columns): MethodOutput {
  const matrix = columns.rows;
  const residual = symmetryResidual(matrix, n);
  symmetrize(matrix, n);
  const sorted = Array.from(columns.errors).sort((a, b) => a - b);
  return {
    summary: {
      algorithm: 'central-differences-richardson',
      step: spec.step ?? `cbrt(eps_f32)·max(1, |θ_j|) = ${CUBE_ROOT_EPS_F32.toExponential(3)}·max(1, |θ_j|)`,
      errorEstimate: { max: sorted[n - 1] ?? 0, median: sorted[Math.floor(n / 2)] ?? 0 },
      kinkColumns: columns.kinkColumns,
      unresolvedColumns: columns.unresolvedColumns,
      symmetrized: true,
    },
    arrays: { 'hessian.npy': { dtype: 'float32', shape: [n, n], data: matrix } },
    symmetryResidual: residual,
    // Each column carries its own difference error, so the raw asymmetry is of that size, not of rounding's.
    symmetryTolerance: FD_COLUMN_TOLERANCE,
    curvature: 'hessian',
    verify: async (check) => [
      await sampledColumnsCheck(
        check.operator('hessian'),
        matrix,
        sampleIndices(check.rng, n, SAMPLED_COLUMNS),
        FD_COLUMN_TOLERANCE,
        { reference: ' (reverse-over-reverse)' },
      ),
    ],
  };
}

/**
 * Finite differences by columns, in pieces of whole chunks of {@link columnChunk} columns: a piece holds its rows
 * (`rows`, float32 [end − start, P]), their error estimates (`errors`, float64) and its kink and unresolved
 * column counts; finish assembles the matrix and reports it as the single run does.
 */
export const finiteDifferenceSplit: SplitMethod<Spec> = {
  plan(ctx) {
    const n = ctx.objective.numParams;
    guardDense(n, ctx.maxDenseBytes);
    return { unit: 'columns', units: n, chunk: columnChunk(ctx.objective) };
  },
  async run(ctx, spec, start, end) {
    ctx.progress.plan(end - start);
    const c = await differenceColumns(ctx, spec, start, end);
    return {
      start,
      end,
      values: { kinkColumns: c.kinkColumns, unresolvedColumns: c.unresolvedColumns },
      arrays: {
        rows: rowsArray(c.rows, end - start, ctx.objective.numParams),
        errors: { dtype: 'float64', shape: [end - start], data: c.errors },
      },
    };
  },
  async finish(ctx, spec, parts) {
    const n = ctx.objective.numParams;
    guardDense(n, ctx.maxDenseBytes);
    const count = (name: string) =>
      parts.reduce((s, p) => {
        const v = p.values[name];
        if (typeof v !== 'number') throw new Error(`piece [${p.start}, ${p.end}) has no ${name}`);
        return s + v;
      }, 0);
    return differenceOutput(spec, n, {
      rows: concatParts(parts, 'rows') as Float32Array,
      errors: concatParts(parts, 'errors') as Float64Array,
      kinkColumns: count('kinkColumns'),
      unresolvedColumns: count('unresolvedColumns'),
    });
  },
};

/**
 * Dense Hessian from central differences of gradients, column by column, in float32 arithmetic:
 *   H e_j ≈ (∇L(θ + h e_j) − ∇L(θ − h e_j)) / 2h,  h = ε^(1/3)·max(1, |θ_j|) (or the given step).
 * Each column is computed at h and h/2: when they agree, Richardson extrapolation (4·D(h/2) − D(h))/3 removes
 * the O(h²) term and |D(h) − D(h/2)| estimates the error. When they disagree, a relu or max-pool kink lies
 * within the step (a straddling step is off by hundreds of percent in float32): the one-sided difference from
 * the side whose two steps agree is used instead, halving h until one side is consistent.
 * Finally the matrix is symmetrized and its raw asymmetry reported. Checked by sampled columns against the exact
 * Hessian-vector products (reverse-over-reverse), an independent method. Split by columns across a job's pieces.
 */
export const finiteDifference = splitOrWhole(finiteDifferenceSplit);
