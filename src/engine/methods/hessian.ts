import { blockIds, denseFromColumns, denseOutput } from './dense-columns.js';
import { guardDense } from '../../contract/guards.js';
import type { Method, SpecOf } from './method.js';

/**
 * Exact dense Hessian, optionally block-diagonal by layer or weight tensor. For the Dense chains the backpropagated
 * loss-Hessian factor covers, H = G + the activations' curvature terms + the layers' bilinear terms, all as
 * Khatri–Rao products per layer pair (`curvature/factor-backprop.ts`), exact in float32 arithmetic; otherwise one
 * Hessian-vector product per column (P products, in blocks). The raw matrix's asymmetry is reported; the result is
 * its symmetric part. Checked by its symmetry, sampled columns against fresh products (an independent path for
 * the factor route), and (full matrix) its product against differences.
 */
export const hessian: Method<SpecOf<'hessian'>> = async (ctx, spec) => {
  const { objective } = ctx;
  const n = objective.numParams;
  guardDense(n, ctx.maxDenseBytes);
  const ids = blockIds(objective.layout, spec.blocks);
  const full = spec.blocks === 'full';
  if (objective.factor?.coversHessian) {
    ctx.progress.plan(objective.factor.denseParts('hessian', full));
    const matrix = await objective.factor.dense('hessian', objective.theta, ids, full, () =>
      ctx.progress.unit(),
    );
    if (objective.l2 > 0) for (let i = 0; i < n; i++) matrix[i * n + i] += objective.l2;
    return denseOutput(matrix, {
      curvature: 'hessian',
      ids,
      blocks: spec.blocks,
      algorithm: 'backpropagated-factor',
      reference: ' (Hessian-vector products, not the factor)',
    });
  }
  ctx.progress.plan(n);
  const matrix = await denseFromColumns(ctx.operator('hessian'), ids);
  return denseOutput(matrix, { curvature: 'hessian', ids, blocks: spec.blocks, algorithm: 'hvp-columns' });
};
