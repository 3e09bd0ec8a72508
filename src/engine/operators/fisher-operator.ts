/**
 * The Fisher information as an operator, in the GGN's form F = Jᵀ B J + l2·I with the per-example loss-Hessian
 * block replaced by a factor of rank m, B_n = Q_n Q_nᵀ (Q: [N, C, m], C logits per example):
 *
 * - `empirical`: F = c Σ_n g_n g_nᵀ with g_n = ∇_θ ℓ_n the per-example gradients and L = c Σ_n ℓ_n (c = 1/N for
 *   mean reduction, 1 for sum); q_n = ∇_{z_n} L / √c, m = 1. The loss's own targets; any loss and output count.
 * - `mc`: the Monte-Carlo Fisher, targets ŷ sampled from the model's predictive distribution (seeded), S samples:
 *   q_{n,s} = ∇_{z_n} L(ŷ_s) / √(β S), β the loss's scale against the negative log-likelihood per position
 *   (`likelihoodScale` × 1/positions for mean), so that E[Q Qᵀ] = ∇²_z L and the MC Fisher converges to the GGN
 *   at the rate 1/√S. Single-output models with a likelihood loss (cross-entropies, mean squared error).
 *
 * Products cost the GGN's (a J v by double backward and a Jᵀ pass) with the factor in place of H_ℓ; block products
 * carry k directions as the GGN's do.
 */
import * as tf from '@tensorflow/tfjs';
import { EngineError } from '../../contract/errors.js';
import { sizeOf } from '../../contract/ndarray.js';
import type { LinearOperator } from '../estimators/linear-operator.js';
import type { Rng } from '../estimators/rng.js';
import type { Objective } from '../objective.js';
import { likelihoodScale, sampleTargets } from '../curvature/sampled-targets.js';
import { readFloat32, readFloat64 } from '../tensor-io.js';
import { blockProduct, blockSizeFor, innerProduct } from './block.js';
import { jacobianVectorProduct, vectorJacobianProduct } from './ggn-operator.js';

export type FisherType = 'mc' | 'empirical';

export interface FisherOptions {
  type: FisherType;
  /** Sampled targets per example (mc). */
  samples: number;
  rng: Rng;
}

/** c in L = c Σ_n ℓ_n: 1/N for mean reduction, 1 for sum (every output must reduce alike). */
function exampleScale(objective: Objective): number {
  const reductions = new Set(objective.outputs.map((o) => o.spec.reduction));
  if (reductions.size > 1) {
    throw new EngineError(
      'invalid_loss',
      'The Fisher needs one reduction for every output (the per-example losses must add up to the loss); ' +
        'these outputs mix mean and sum.',
    );
  }
  return objective.outputs[0].spec.reduction === 'sum' ? 1 : 1 / objective.numExamples;
}

/** The factor Q [N, C, m] of the Fisher's per-example blocks (see the file comment). */
export function fisherFactor(objective: Objective, options: FisherOptions): tf.Tensor {
  const n = objective.numExamples;
  const c = objective.outputsPerExample;
  return tf.tidy(() => {
    const logits = objective.logits(objective.theta);
    const gradientAt = (targets: tf.Tensor[] | null) =>
      tf.reshape(
        tf.grad((z: tf.Tensor) =>
          targets ? objective.lossOfLogitsWith(z, targets) : objective.lossOfLogits(z),
        )(logits),
        [n, c, 1],
      );
    if (options.type === 'empirical') return tf.div(gradientAt(null), Math.sqrt(exampleScale(objective)));

    if (objective.outputs.length !== 1) {
      throw new EngineError(
        'invalid_method',
        'The Monte-Carlo Fisher (fisherType "mc") takes single-output models; use fisherType "empirical" ' +
          'or curvature "ggn" for this one.',
      );
    }
    const [{ spec, shape }] = objective.outputs;
    const scale = likelihoodScale(spec, shape) * (spec.reduction === 'sum' ? 1 : c / sizeOf(shape));
    const values = readFloat32(() => tf.clone(logits));
    const samples = sampleTargets(
      values,
      shape,
      spec,
      objective.finalActivation,
      options.samples,
      options.rng,
    );
    const columns = samples.map((t) => gradientAt([tf.tensor(t, shape)]));
    return tf.div(tf.concat(columns, 2), Math.sqrt(scale * options.samples));
  });
}

/** B w for logit-space vectors w [rows, C] of `copies` copies of the batch: per example Q (Qᵀ w). */
function factorProduct(q: tf.Tensor, w: tf.Tensor, copies: number): tf.Tensor {
  const [n, c] = q.shape;
  const wk = tf.reshape(w, [copies, n, c, 1]);
  const r = tf.sum(tf.mul(q, wk), 2, true); // [k, N, 1, m]
  return tf.reshape(tf.sum(tf.mul(q, r), 3), [copies * n, c]);
}

/** The Fisher operator, with its factor Q for the checks (row-major [N, C, m]). */
export interface FisherOperator extends LinearOperator {
  readonly type: FisherType;
  readonly samples: number;
  factor(): { values: Float32Array; columns: number };
  dispose(): void;
}

/** v ↦ F v, with F of the given type (see the file comment); `dispose` frees the factor. */
export function fisherOperator(objective: Objective, options: FisherOptions): FisherOperator {
  const q = tf.keep(fisherFactor(objective, options));
  const logits = tf.keep(tf.tidy(() => objective.logits(objective.theta)));
  const block = objective.block;
  const flatShape = (rows: number) => [rows, objective.outputsPerExample];
  return {
    size: objective.numParams,
    type: options.type,
    samples: options.type === 'mc' ? options.samples : 0,
    factor: () => ({ values: q.dataSync() as Float32Array, columns: q.shape[2]! }),
    blockSize: blockSizeFor(objective),
    matvec: async (v) =>
      readFloat64(() => {
        const direction = tf.tensor1d(Float32Array.from(v));
        const jv = tf.reshape(
          jacobianVectorProduct(objective, direction, logits.shape),
          flatShape(logits.shape[0]),
        );
        const bjv = tf.reshape(factorProduct(q, jv, 1), logits.shape);
        const fv = vectorJacobianProduct(objective, bjv);
        return objective.l2 > 0 ? tf.add(fv, tf.mul(objective.l2, direction)) : fv;
      }),
    ...(block && {
      matmat: async (vs: readonly Float64Array[]) =>
        blockProduct(objective, vs, (thetas, directions) => {
          const k = vs.length;
          const vjp = (u: tf.Tensor) =>
            tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(block.logits(t), u)) as tf.Scalar)(thetas);
          const tiledShape = [k * logits.shape[0], ...logits.shape.slice(1)];
          const jv = tf.grad((u: tf.Tensor) => innerProduct(vjp(u), directions))(tf.zeros(tiledShape));
          const bjv = tf.reshape(factorProduct(q, tf.reshape(jv, flatShape(tiledShape[0])), k), tiledShape);
          const fv = vjp(bjv);
          return objective.l2 > 0 ? fv.map((g, i) => tf.add(g, tf.mul(objective.l2, directions[i]))) : fv;
        }),
    }),
    dispose: () => {
      q.dispose();
      logits.dispose();
    },
  };
}

/** Passes beyond which the per-example check is not run (it costs one reverse pass per example and column). */
export const FISHER_CHECK_MAX_PASSES = 512;

/**
 * F v by a route independent of the operator's: the per-example gradients g_{n,j} = J_nᵀ q_{n,j} (one first-order
 * reverse pass each, no double backward), then Σ g (gᵀ v) + l2·v. Null when it would take more than
 * FISHER_CHECK_MAX_PASSES passes.
 */
export function fisherProductByExamples(
  objective: Objective,
  factor: { values: Float32Array; columns: number },
  v: Float64Array,
): Float64Array | null {
  if (objective.numExamples * factor.columns > FISHER_CHECK_MAX_PASSES) return null;
  const out = Float64Array.from(v, (x) => objective.l2 * x);
  forEachExampleGradient(objective, factor, (g) => {
    let dot = 0;
    for (let i = 0; i < g.length; i++) dot += g[i] * v[i];
    for (let i = 0; i < g.length; i++) out[i] += g[i] * dot;
  });
  return out;
}

/**
 * g_{n,j} = J_nᵀ q_{n,j} for every example n and factor column j, one first-order reverse pass each (the
 * per-example gradients for the empirical Fisher): F = Σ g gᵀ + l2·I.
 */
export function forEachExampleGradient(
  objective: Objective,
  factor: { values: Float32Array; columns: number },
  visit: (g: Float64Array) => void,
): void {
  const n = objective.numExamples;
  const c = objective.outputsPerExample;
  const m = factor.columns;
  const logits = tf.tidy(() => objective.logits(objective.theta));
  const logitsShape = logits.shape;
  logits.dispose();
  const u = new Float32Array(n * c);
  for (let e = 0; e < n; e++) {
    for (let j = 0; j < m; j++) {
      u.fill(0);
      for (let i = 0; i < c; i++) u[e * c + i] = factor.values[(e * c + i) * m + j];
      visit(readFloat64(() => vectorJacobianProduct(objective, tf.tensor(u, logitsShape))));
    }
  }
}
