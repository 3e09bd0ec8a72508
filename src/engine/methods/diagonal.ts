import { sampleIndices } from '../checks/check.js';
import { EXACT_ENTRY_TOLERANCE, SAMPLED_ENTRIES, sampledDiagonalCheck } from '../checks/sampled-diagonal.js';
import { exactDiagonal } from '../estimators/exact.js';
import { explicitJacobianProducts, preferJacobian } from './ggn.js';
import type { Method, SpecOf } from './method.js';

/**
 * Exact diagonal of the Hessian (P products with unit vectors, O(P) memory) or of the GGN. Both come from the
 * backpropagated loss-Hessian factor where it applies (the Hessian's as diag(G) plus the activations' curvature
 * terms) (`curvature/factor-backprop.ts`), else from the
 * explicit Jacobian when N·C < P: diag(G)_i = Σ_r J_ri (H_ℓ J)_ri (+ l2). Checked on sampled
 * entries against fresh products e_jᵀ A e_j (an independent path when the Jacobian was used).
 */
export const diagonal: Method<SpecOf<'diagonal'>> = async (ctx, spec) => {
  const { objective } = ctx;
  const n = objective.numParams;
  const diag = new Float32Array(n);
  let algorithm: string;
  const hessianByFactor =
    spec.curvature === 'hessian' ? objective.factor?.hessianDiagonal(objective.theta) : null;
  if (hessianByFactor) {
    // diag(G) plus the activations' curvature terms, from the same backpropagated columns.
    algorithm = 'backpropagated-factor';
    ctx.progress.plan(1);
    diag.set(hessianByFactor);
    if (objective.l2 > 0) for (let i = 0; i < n; i++) diag[i] += objective.l2;
    await ctx.progress.unit();
  } else if (spec.curvature === 'ggn' && objective.factor) {
    // BackPACK's DiagGGN: the loss-Hessian factor backpropagated through the layers, about C gradients.
    algorithm = 'backpropagated-factor';
    ctx.progress.plan(1);
    diag.set(objective.factor.ggnDiagonal(objective.theta));
    if (objective.l2 > 0) for (let i = 0; i < n; i++) diag[i] += objective.l2;
    await ctx.progress.unit();
  } else if (spec.curvature === 'ggn' && preferJacobian(ctx)) {
    algorithm = 'explicit-jacobian';
    const { rows, jacobian, hj } = await explicitJacobianProducts(ctx);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < n; i++) diag[i] += jacobian[r * n + i] * hj[r * n + i];
    }
    if (objective.l2 > 0) for (let i = 0; i < n; i++) diag[i] += objective.l2;
  } else {
    algorithm = spec.curvature === 'ggn' ? 'ggnvp-unit-vectors' : 'hvp-unit-vectors';
    ctx.progress.plan(n);
    diag.set(await exactDiagonal(ctx.operator(spec.curvature)));
  }
  let trace = 0;
  for (const d of diag) trace += d;
  return {
    summary: { curvature: spec.curvature, algorithm, trace },
    arrays: { 'diagonal.npy': { dtype: 'float32', shape: [n], data: diag } },
    curvature: spec.curvature,
    verify: async (check) => [
      await sampledDiagonalCheck(
        check.operator(spec.curvature),
        diag,
        sampleIndices(check.rng, n, SAMPLED_ENTRIES),
        EXACT_ENTRY_TOLERANCE,
      ),
    ],
  };
};
