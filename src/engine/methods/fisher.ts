import { blockIds, denseFromColumns, denseOutput } from './dense-columns.js';
import { guardDense } from '../../contract/guards.js';
import type { Method, SpecOf } from './method.js';

/**
 * Dense Fisher (Monte-Carlo or empirical, see operators/fisher-operator.ts) from P Fisher-vector products in
 * blocks, optionally block-diagonal by layer or weight tensor. Checked by its symmetry, sampled columns against
 * fresh products, and its product against the per-example gradients (an independent, first-order route).
 */
export const fisher: Method<SpecOf<'fisher'>> = async (ctx, spec) => {
  const n = ctx.objective.numParams;
  guardDense(n, ctx.maxDenseBytes);
  ctx.progress.plan(n);
  const ids = blockIds(ctx.objective.layout, spec.blocks);
  const matrix = await denseFromColumns(ctx.operator('fisher'), ids);
  return denseOutput(matrix, { curvature: 'fisher', ids, blocks: spec.blocks, algorithm: 'fvp-columns' });
};
