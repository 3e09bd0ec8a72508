import { sampleIndices } from '../checks/check.js';
import { randomUnit } from '../checks/differences.js';
import { EXACT_COLUMN_TOLERANCE, SAMPLED_COLUMNS, sampledColumnsCheck } from '../checks/sampled-columns.js';
import { blockSizeOf, forEachColumnBlock, type LinearOperator } from '../estimators/linear-operator.js';
import type { Rng } from '../estimators/rng.js';
import { guardDense } from '../../contract/guards.js';
import type { MethodSpec } from '../../contract/request-schema.js';
import type { ParamLayout } from '../../contract/types.js';
import type { Curvature, MethodContext, MethodOutput } from './method.js';
import { additiveCurvature, concatParts, type SplitMethod } from './split.js';

export type Blocks = 'full' | 'layer' | 'weight';

/** Block id of each parameter: one block for `full`, one per layer or per weight tensor otherwise. */
export function blockIds(layout: ParamLayout[], blocks: Blocks): Int32Array {
  const size = layout.reduce((n, p) => n + p.size, 0);
  const ids = new Int32Array(size);
  if (blocks === 'full') return ids;
  const keys: string[] = [];
  for (const p of layout) {
    const key = blocks === 'layer' ? p.layer : p.name;
    let id = keys.indexOf(key);
    if (id < 0) id = keys.push(key) - 1;
    ids.fill(id, p.offset, p.offset + p.size);
  }
  return ids;
}

/**
 * Builds a dense symmetric matrix column by column, A e_j (in block products), keeping only entries inside the block of j. Returns
 * the raw matrix (row-major; column j stored as row j, exact for symmetric A up to rounding).
 */
export async function denseFromColumns(operator: LinearOperator, ids: Int32Array): Promise<Float32Array> {
  return denseRows(operator, ids, 0, operator.size);
}

/** Rows [start, end) of {@link denseFromColumns}'s matrix, from the same block products (start a block multiple). */
export async function denseRows(
  operator: LinearOperator,
  ids: Int32Array,
  start: number,
  end: number,
): Promise<Float32Array> {
  const n = operator.size;
  const rows = new Float32Array((end - start) * n);
  await forEachColumnBlock(
    operator,
    (first, columns) => {
      columns.forEach((column, c) => {
        const j = first + c;
        const row = rows.subarray((j - start) * n, (j - start + 1) * n);
        for (let i = 0; i < n; i++) if (ids[i] === ids[j]) row[i] = column[i];
      });
    },
    { start, end },
  );
  return rows;
}

/**
 * A dense curvature matrix by columns A eⱼ, split by columns: each piece holds its rows (column j stored as row j),
 * and the combined matrix goes through {@link denseOutput} as the single run's does. `whole(ctx)` says when the
 * request takes a route without columns (the factor, the explicit Jacobian), which then runs whole.
 */
export function denseColumnsSplit<S extends MethodSpec & { blocks: Blocks }>(
  curvature: Curvature,
  algorithm: string,
  whole: (ctx: MethodContext) => boolean = () => false,
): SplitMethod<S> {
  return {
    plan(ctx) {
      if (whole(ctx)) return null;
      guardDense(ctx.objective.numParams, ctx.maxDenseBytes);
      const operator = ctx.operator(curvature);
      return { unit: 'columns', units: operator.size, chunk: blockSizeOf(operator) };
    },
    async run(ctx, spec, start, end) {
      const n = ctx.objective.numParams;
      ctx.progress.plan(end - start);
      const ids = blockIds(ctx.objective.layout, spec.blocks);
      const rows = await denseRows(ctx.operator(curvature), ids, start, end);
      return {
        start,
        end,
        values: {},
        arrays: { rows: { dtype: 'float32', shape: [end - start, n], data: rows } },
      };
    },
    additive: (_ctx, spec) => additiveCurvature(curvature, spec as { fisherType?: string }),
    async finish(ctx, spec, parts) {
      guardDense(ctx.objective.numParams, ctx.maxDenseBytes);
      const matrix = concatParts(parts, 'rows') as Float32Array;
      const ids = blockIds(ctx.objective.layout, spec.blocks);
      return denseOutput(matrix, { curvature, ids, blocks: spec.blocks, algorithm });
    },
  };
}

/** ‖A − Aᵀ‖_F / ‖A‖_F. */
export function symmetryResidual(matrix: Float32Array, n: number): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = matrix[i * n + j];
      const d = a - matrix[j * n + i];
      diff += d * d;
      norm += a * a;
    }
  }
  return norm === 0 ? 0 : Math.sqrt(diff / norm);
}

/** (A + Aᵀ)/2 in place. */
export function symmetrize(matrix: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const mean = 0.5 * (matrix[i * n + j] + matrix[j * n + i]);
      matrix[i * n + j] = mean;
      matrix[j * n + i] = mean;
    }
  }
}

/** M v in float64, for a row-major n×n float32 matrix M. */
export function denseProduct(matrix: Float32Array, v: Float64Array): Float64Array {
  const n = v.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += matrix[i * n + j] * v[j];
    out[i] = s;
  }
  return out;
}

/**
 * The checks of a dense n×n result M of `curvature`: its product with a random unit v (for the product check;
 * only for a full matrix, since a block-diagonal one is not the curvature), and `sampled_columns` against fresh
 * operator products within the blocks.
 */
export function denseChecks(
  matrix: Float32Array,
  options: {
    curvature: Curvature;
    ids: Int32Array;
    full: boolean;
    reference?: string;
  },
): Pick<MethodOutput, 'claimedProduct' | 'verify'> {
  const n = options.ids.length;
  return {
    ...(options.full && {
      claimedProduct: (rng: Rng) => {
        const direction = randomUnit(rng, n);
        return { direction, product: denseProduct(matrix, direction), source: 'the dense result' };
      },
    }),
    verify: async (ctx) => [
      await sampledColumnsCheck(
        ctx.operator(options.curvature),
        matrix,
        sampleIndices(ctx.rng, n, SAMPLED_COLUMNS),
        EXACT_COLUMN_TOLERANCE,
        { blockIds: options.ids, reference: options.reference },
      ),
    ],
  };
}

/**
 * The output of a dense curvature method: the raw matrix's asymmetry reported, the matrix symmetrized (in place),
 * stored as `<curvature>.npy`, and checked by {@link denseChecks}.
 */
export function denseOutput(
  matrix: Float32Array,
  options: { curvature: Curvature; ids: Int32Array; blocks: string; algorithm: string; reference?: string },
): MethodOutput {
  const n = options.ids.length;
  const residual = symmetryResidual(matrix, n);
  symmetrize(matrix, n);
  return {
    summary: { blocks: options.blocks, algorithm: options.algorithm, symmetrized: true },
    arrays: { [`${options.curvature}.npy`]: { dtype: 'float32', shape: [n, n], data: matrix } },
    symmetryResidual: residual,
    curvature: options.curvature,
    ...denseChecks(matrix, {
      curvature: options.curvature,
      ids: options.ids,
      full: options.blocks === 'full',
      reference: options.reference,
    }),
  };
}
