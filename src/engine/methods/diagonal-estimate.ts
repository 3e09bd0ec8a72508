import { standardErrorCheck } from '../checks/estimate.js';
import {
  diagonalFromMoments,
  emptyMoments,
  hutchinsonDiagonalChunks,
  mergeMoments,
  type DiagonalEstimate,
  type DiagonalMoments,
} from '../estimators/hutchinson.js';
import { blockSizeOf } from '../estimators/linear-operator.js';
import { derivedRng } from '../estimators/rng.js';
import type { Method, MethodContext, MethodOutput, SpecOf } from './method.js';
import type { PartialResult, SplitMethod } from './split.js';

type Spec = SpecOf<'diagonal_estimate'>;

/**
 * Bytes the statistics rows of a whole diagonal_estimate job may take (each row is `mean` and `m2`, 16·P bytes): 64
 * MiB. All the pieces of a job together hold at most this much, however the job is split; a single row may exceed it when P
 * alone does (P > 4 Mi parameters).
 */
export const DIAGONAL_STATISTICS_BUDGET = 64 * 1024 * 1024;

/**
 * G, the block chunks (block products of `blockSize` probes) in one group of probes: the least G for which the
 * job's ceil(probes / (G·blockSize)) statistics rows of 16·P bytes fit in `budget`, at least one row. With
 * C = ceil(probes / blockSize) chunks and R = max(1, floor(budget / (16·P))) rows allowed, G = max(1, ceil(C / R)).
 * It depends on nothing but its arguments, so the single run and every piece group the probes alike.
 */
export function diagonalGroupChunks(
  probes: number,
  blockSize: number,
  numParams: number,
  budget: number = DIAGONAL_STATISTICS_BUDGET,
): number {
  const chunks = Math.ceil(probes / blockSize);
  const rows = Math.max(1, Math.floor(budget / (16 * numParams)));
  return Math.max(1, Math.ceil(chunks / rows));
}

/** Probes per group: G block chunks ({@link diagonalGroupChunks}), the plan's chunk. */
function groupSize(ctx: MethodContext, spec: Spec, budget: number): number {
  const blockSize = blockSizeOf(ctx.operator(spec.curvature));
  return diagonalGroupChunks(spec.probes, blockSize, ctx.objective.numParams, budget) * blockSize;
}

/**
 * The moments of each group of `size` probes in [start, end) (start a multiple of `size`), in group order: the
 * moments of the group's block chunks, probe j from its own stream (seed, j), merged in chunk order into
 * `moments(k)`, where group k (counted from `start`) accumulates: moments of count 0, whose entries the first merge
 * overwrites (so a buffer may be reused). A group's moments are thus the same bits whichever run computes it.
 */
async function probeGroups(
  ctx: MethodContext,
  spec: Spec,
  range: { start: number; end: number; size: number },
  moments: (k: number) => DiagonalMoments,
  onGroup: (moments: DiagonalMoments) => void,
): Promise<void> {
  const n = ctx.objective.numParams;
  const op = ctx.operator(spec.curvature);
  for (let start = range.start, k = 0; start < range.end; start += range.size, k++) {
    const group = moments(k);
    await hutchinsonDiagonalChunks(
      op,
      { start, end: Math.min(range.end, start + range.size) },
      (j) => derivedRng(ctx.seed, j).rademacherVector(n),
      (chunk) => mergeMoments(group, chunk),
    );
    onGroup(group);
  }
}

/** The method's output from the estimate over every probe. */
function estimateOutput(spec: Spec, r: DiagonalEstimate): MethodOutput {
  const n = r.diagonal.length;
  let meanStandardError = 0;
  let maxStandardError = 0;
  for (const s of r.standardError) {
    meanStandardError += s / n;
    maxStandardError = Math.max(maxStandardError, s);
  }
  return {
    summary: { curvature: spec.curvature, probes: r.probes, meanStandardError },
    arrays: {
      'diagonal.npy': { dtype: 'float32', shape: [n], data: Float32Array.from(r.diagonal) },
      'diagonal_stderr.npy': { dtype: 'float32', shape: [n], data: Float32Array.from(r.standardError) },
    },
    curvature: spec.curvature,
    verify: async () => [
      standardErrorCheck(
        meanStandardError,
        `A stochastic estimate from ${r.probes} probes: mean per-entry standard error ` +
          `${meanStandardError.toExponential(2)}, largest ${maxStandardError.toExponential(2)}.`,
      ),
    ],
  };
}

/** Float64 array `name` of a piece, of `length` entries; an internal error otherwise. */
function float64Of(part: PartialResult, name: string, length: number): Float64Array {
  const a = part.arrays[name];
  if (a?.dtype !== 'float64' || a.data.length !== length) {
    throw new Error(`piece [${part.start}, ${part.end}) has no float64 array ${name} of ${length} entries`);
  }
  return a.data as Float64Array;
}

/**
 * Hutchinson's diagonal by probes, in pieces of whole groups of probes ({@link diagonalGroupChunks}: G block
 * products each, the plan's chunk). A piece returns the moments of each of its groups (so its arrays run over
 * groups, not probes): `mean` and `m2` ([groups, P], float64) and `counts` ([groups]), every piece's rows together at
 * most `budget` bytes (at least one row), besides the block products in flight. Finish merges the groups in group
 * order, as the single run does.
 */
export function diagonalEstimateSplitWith(budget: number): SplitMethod<Spec> {
  return {
    plan(ctx, spec) {
      return { unit: 'probes', units: spec.probes, chunk: groupSize(ctx, spec, budget) };
    },
    async run(ctx, spec, start, end) {
      const n = ctx.objective.numParams;
      const size = groupSize(ctx, spec, budget);
      const groups = Math.ceil((end - start) / size);
      ctx.progress.plan(end - start);
      const mean = new Float64Array(groups * n);
      const m2 = new Float64Array(groups * n);
      const counts = new Float64Array(groups);
      let k = 0;
      await probeGroups(
        ctx,
        spec,
        { start, end, size },
        (g) => ({ count: 0, mean: mean.subarray(g * n, (g + 1) * n), m2: m2.subarray(g * n, (g + 1) * n) }),
        (group) => void (counts[k++] = group.count),
      );
      const shape = [groups, n];
      return {
        start,
        end,
        values: {},
        arrays: {
          mean: { dtype: 'float64', shape, data: mean },
          m2: { dtype: 'float64', shape, data: m2 },
          counts: { dtype: 'float64', shape: [groups], data: counts },
        },
      };
    },
    async finish(ctx, spec, parts) {
      const n = ctx.objective.numParams;
      const total = emptyMoments(n);
      for (const part of parts) {
        const counts = part.arrays.counts?.data;
        if (!(counts instanceof Float64Array))
          throw new Error(`piece [${part.start}, ${part.end}) has no counts`);
        const mean = float64Of(part, 'mean', counts.length * n);
        const m2 = float64Of(part, 'm2', counts.length * n);
        counts.forEach((count, k) =>
          mergeMoments(total, {
            count,
            mean: mean.subarray(k * n, (k + 1) * n),
            m2: m2.subarray(k * n, (k + 1) * n),
          }),
        );
      }
      if (total.count !== spec.probes)
        throw new Error(`the pieces hold ${total.count} of ${spec.probes} probes`);
      return estimateOutput(spec, diagonalFromMoments(total));
    },
  };
}

/** {@link diagonalEstimateSplitWith} the {@link DIAGONAL_STATISTICS_BUDGET}: the split method jobs run. */
export const diagonalEstimateSplit: SplitMethod<Spec> = diagonalEstimateSplitWith(DIAGONAL_STATISTICS_BUDGET);

/**
 * Hutchinson's diagonal estimator E[v ⊙ A v] with Rademacher v, probe j drawn from (seed, j), with a standard error
 * per entry (reported as the `standard_error` check: an approximation). Each chunk of probes (a block product) is
 * reduced on its own, the chunks of each group of G ({@link diagonalGroupChunks} for `budget`) merged in order, and
 * the groups merged in order, so the estimate is the same bits however the job is split. The single run folds each
 * group in as it completes (O(P) memory: the total, one group's moments and the block in flight, no row per group):
 * the same merges in the same order as {@link diagonalEstimateSplitWith}'s pieces and finish for the same budget.
 */
export function diagonalEstimateWith(budget: number): Method<Spec> {
  return async (ctx, spec) => {
    const n = ctx.objective.numParams;
    ctx.progress.plan(spec.probes);
    const total = emptyMoments(n);
    const group = emptyMoments(n);
    await probeGroups(
      ctx,
      spec,
      { start: 0, end: spec.probes, size: groupSize(ctx, spec, budget) },
      () => {
        group.count = 0;
        return group;
      },
      (moments) => mergeMoments(total, moments),
    );
    return estimateOutput(spec, diagonalFromMoments(total));
  };
}

/** {@link diagonalEstimateWith} the {@link DIAGONAL_STATISTICS_BUDGET}: the method jobs run whole. */
export const diagonalEstimate: Method<Spec> = diagonalEstimateWith(DIAGONAL_STATISTICS_BUDGET);
