import * as tf from '@tensorflow/tfjs';
import { explicitGgnFactors, lossHessianTimesJacobian } from '../operators/jacobian.js';
import { readFloat32 } from '../tensor-io.js';
import { blockIds, denseColumnsSplit, denseOutput } from './dense-columns.js';
import { guardDense, prefersExplicitJacobian } from '../../contract/guards.js';
import type { Method, MethodContext, SpecOf } from './method.js';
import { splitOrWhole } from './split.js';

/** Whether the explicit Jacobian is cheaper than P operator products (see `prefersExplicitJacobian`). */
export function preferJacobian(ctx: MethodContext): boolean {
  const rows = ctx.objective.numExamples * ctx.objective.outputsPerExample;
  return prefersExplicitJacobian(rows, ctx.objective.numParams);
}

/**
 * J and H_ℓ J from the explicit Jacobian (guarded, with progress planned): the shared first step of the dense GGN
 * and its exact diagonal.
 */
export async function explicitJacobianProducts(ctx: MethodContext) {
  const { objective } = ctx;
  const n = objective.numParams;
  const rows = objective.numExamples * objective.outputsPerExample;
  // Its size was guarded by prepareRequest, before the API queued the job.
  ctx.progress.plan(rows + objective.outputsPerExample);
  const factors = await explicitGgnFactors(objective, ctx.progress);
  return { rows, jacobian: factors.jacobian, hj: lossHessianTimesJacobian(factors, n) };
}

/** The dense GGN by GGN-vector columns, in pieces; the factor and the explicit Jacobian run whole. */
export const ggnSplit = denseColumnsSplit<SpecOf<'ggn'>>(
  'ggn',
  'ggnvp-columns',
  (ctx) => !!ctx.objective.factor || preferJacobian(ctx),
);

/** The dense GGN from the backpropagated factor or the explicit Jacobian. */
const withoutColumns: Method<SpecOf<'ggn'>> = async (ctx, spec) => {
  const { objective } = ctx;
  const n = objective.numParams;
  guardDense(n, ctx.maxDenseBytes);
  const ids = blockIds(objective.layout, spec.blocks);
  let matrix: Float32Array;
  let algorithm: string;
  const full = spec.blocks === 'full';
  if (objective.factor) {
    // The backpropagated loss-Hessian factor: layer pair by layer pair, 2·N·P_L·P_M flops each.
    algorithm = 'backpropagated-factor';
    ctx.progress.plan(objective.factor.denseParts('ggn', full));
    matrix = await objective.factor.dense('ggn', objective.theta, ids, full, () => ctx.progress.unit());
    if (objective.l2 > 0) for (let i = 0; i < n; i++) matrix[i * n + i] += objective.l2;
  } else {
    algorithm = 'explicit-jacobian';
    const { rows, jacobian, hj } = await explicitJacobianProducts(ctx);
    matrix = readFloat32(() => {
      const j = tf.tensor2d(jacobian, [rows, n]);
      const g = tf.matMul(j, tf.tensor2d(hj, [rows, n]), true, false);
      return objective.l2 > 0 ? tf.add(g, tf.mul(objective.l2, tf.eye(n))) : g;
    });
    if (!full) {
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (ids[i] !== ids[j]) matrix[i * n + j] = 0;
    }
  }
  return denseOutput(matrix, {
    curvature: 'ggn',
    ids,
    blocks: spec.blocks,
    algorithm,
    reference: ' (GGN-vector products, not the factor or the Jacobian)',
  });
};

/**
 * Exact dense generalized Gauss–Newton Jᵀ H_ℓ J (+ l2·I), split at the logits. For the chains the backpropagated
 * loss-Hessian factor covers (`curvature/factor-backprop.ts`), from the factor's Khatri–Rao products per layer pair;
 * else when N·C < P from the explicit Jacobian (N·C reverse passes and one matrix product); otherwise from P
 * GGN-vector products (split by columns across a job's pieces).
 * Checked by its symmetry, sampled columns against fresh GGN-vector products (an independent path when the
 * Jacobian was used), and (full matrix) the full GGN product against differences.
 */
export const ggn = splitOrWhole(ggnSplit, withoutColumns);
