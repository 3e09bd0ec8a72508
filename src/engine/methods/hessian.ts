import { blockIds, denseColumnsSplit, denseOutput } from './dense-columns.js';
import { guardDense } from '../../contract/guards.js';
import type { Method, SpecOf } from './method.js';
import { splitOrWhole } from './split.js';

/** The dense Hessian by HVP columns, in pieces; the factor route runs whole. */
export const hessianSplit = denseColumnsSplit<SpecOf<'hessian'>>(
  'hessian',
  'hvp-columns',
  (ctx) => !!ctx.objective.factor?.coversHessian,
);

/** The factor route: H = G + the activations' curvature terms + the layers' bilinear terms, per layer pair. */
const byFactor: Method<SpecOf<'hessian'>> = async (ctx, spec) => {
  const { objective } = ctx;
  const n = objective.numParams;
  guardDense(n, ctx.maxDenseBytes);
  const factor = objective.factor!;
  const ids = blockIds(objective.layout, spec.blocks);
  const full = spec.blocks === 'full';
  ctx.progress.plan(factor.denseParts('hessian', full));
  const matrix = await factor.dense('hessian', objective.theta, ids, full, () => ctx.progress.unit());
  if (objective.l2 > 0) for (let i = 0; i < n; i++) matrix[i * n + i] += objective.l2;
  return denseOutput(matrix, {
    curvature: 'hessian',
    ids,
    blocks: spec.blocks,
    algorithm: 'backpropagated-factor',
    reference: ' (Hessian-vector products, not the factor)',
  });
};

/**
 * Exact dense Hessian, optionally block-diagonal by layer or weight tensor. For the Dense chains the backpropagated
 * loss-Hessian factor covers, H = G + the activations' curvature terms + the layers' bilinear terms, all as
 * Khatri–Rao products per layer pair (`curvature/factor-backprop.ts`), exact in float32 arithmetic; otherwise one
 * Hessian-vector product per column (P products, in blocks, split by columns across a job's pieces). The raw
 * matrix's asymmetry is reported; the result is its symmetric part. Checked by its symmetry, sampled columns
 * against fresh products (an independent path for the factor route), and (full matrix) its product against
 * differences.
 */
export const hessian = splitOrWhole(hessianSplit, byFactor);
