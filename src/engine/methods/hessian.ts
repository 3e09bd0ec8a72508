import { blockIds, denseFromColumns, denseOutput } from './dense-columns.js';
import { guardDense } from '../../contract/guards.js';
import type { Method, SpecOf } from './method.js';

/**
 * Exact dense Hessian, one Hessian-vector product per column (P products), optionally block-diagonal by layer
 * or weight tensor. The raw matrix's asymmetry is reported; the result is its symmetric part. Checked by its
 * symmetry, sampled columns against fresh products, and (full matrix) its product against differences.
 */
export const hessian: Method<SpecOf<'hessian'>> = async (ctx, spec) => {
  const n = ctx.objective.numParams;
  guardDense(n, ctx.maxDenseBytes);
  ctx.progress.plan(n);
  const ids = blockIds(ctx.objective.layout, spec.blocks);
  const matrix = await denseFromColumns(ctx.operator('hessian'), ids);
  return denseOutput(matrix, { curvature: 'hessian', ids, blocks: spec.blocks, algorithm: 'hvp-columns' });
};
