import { sampleIndices } from '../checks/check.js';
import { EXACT_ENTRY_TOLERANCE, SAMPLED_ENTRIES, sampledDiagonalCheck } from '../checks/sampled-diagonal.js';
import { exactDiagonalRange } from '../estimators/exact.js';
import { blockSizeOf } from '../estimators/linear-operator.js';
import { explicitJacobianProducts, preferJacobian } from './ggn.js';
import type { Method, MethodContext, MethodOutput, SpecOf } from './method.js';
import { additiveCurvature, concatParts, type SplitMethod, splitOrWhole, valuesPart } from './split.js';

type Spec = SpecOf<'diagonal'>;

/** Whether the request takes a route without unit vectors: the factor, or the explicit Jacobian (GGN). */
function withoutUnitVectors(ctx: MethodContext, spec: Spec): boolean {
  const { factor } = ctx.objective;
  if (spec.curvature === 'hessian') return !!factor?.coversHessian;
  return spec.curvature === 'ggn' && (!!factor || preferJacobian(ctx));
}

/** The method's output for the diagonal `diag` (float32): its trace summed in entry order, the sampled check. */
function diagonalOutput(spec: Spec, algorithm: string, diag: Float32Array): MethodOutput {
  const n = diag.length;
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
}

/**
 * The exact diagonal from unit-vector products, split by columns: a piece holds its entries eⱼᵀAeⱼ (`values`,
 * float64), computed by the block products the single run computes. The factor and explicit-Jacobian routes run
 * whole.
 */
export const diagonalSplit: SplitMethod<Spec> = {
  plan(ctx, spec) {
    if (withoutUnitVectors(ctx, spec)) return null;
    const operator = ctx.operator(spec.curvature);
    return { unit: 'columns', units: operator.size, chunk: blockSizeOf(operator) };
  },
  async run(ctx, spec, start, end) {
    ctx.progress.plan(end - start);
    const values = await exactDiagonalRange(ctx.operator(spec.curvature), { start, end });
    return valuesPart(start, end, values);
  },
  // eⱼᵀAeⱼ is a sum over examples (not for the Monte-Carlo Fisher: one stream of sampled targets).
  additive: (_ctx, spec) => additiveCurvature(spec.curvature, spec),
  async finish(_ctx, spec, parts) {
    const diag = Float32Array.from(concatParts(parts, 'values'));
    return diagonalOutput(spec, spec.curvature === 'ggn' ? 'ggnvp-unit-vectors' : 'hvp-unit-vectors', diag);
  },
};

/** The factor and explicit-Jacobian routes, whole. */
const withoutColumns: Method<Spec> = async (ctx, spec) => {
  const { objective } = ctx;
  const n = objective.numParams;
  const diag = new Float32Array(n);
  let algorithm: string;
  if (spec.curvature === 'hessian') {
    // diag(G) plus the activations' curvature terms, from the same backpropagated columns.
    algorithm = 'backpropagated-factor';
    ctx.progress.plan(1);
    diag.set(objective.factor!.hessianDiagonal(objective.theta)!);
    await ctx.progress.unit();
  } else if (objective.factor) {
    // BackPACK's DiagGGN: the loss-Hessian factor backpropagated through the layers, about C gradients.
    algorithm = 'backpropagated-factor';
    ctx.progress.plan(1);
    diag.set(objective.factor.ggnDiagonal(objective.theta));
    await ctx.progress.unit();
  } else {
    algorithm = 'explicit-jacobian';
    const { rows, jacobian, hj } = await explicitJacobianProducts(ctx);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < n; i++) diag[i] += jacobian[r * n + i] * hj[r * n + i];
    }
  }
  if (objective.l2 > 0) for (let i = 0; i < n; i++) diag[i] += objective.l2;
  return diagonalOutput(spec, algorithm, diag);
};

/**
 * Exact diagonal of the Hessian, GGN or Fisher. Dense chains take the backpropagated loss-Hessian factor (the
 * Hessian's as diag(G) plus the activations' curvature terms) (`curvature/factor-backprop.ts`), the GGN else the
 * explicit Jacobian when N·C < P: diag(G)_i = Σ_r J_ri (H_ℓ J)_ri (+ l2); otherwise P products with unit vectors
 * (O(P) memory, split by columns across a job's pieces). Checked on sampled entries against fresh products
 * e_jᵀ A e_j (an independent path when the Jacobian was used).
 */
export const diagonal = splitOrWhole(diagonalSplit, withoutColumns);
