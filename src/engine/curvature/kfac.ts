/**
 * Kronecker factors of the GGN per Dense layer (KFAC, in curvlinops' convention). For a Dense layer z = a W + b of
 * the chain `planKfac` covers, with ā_n = [a_n, 1] (the layer's input for example n, the bias column last when the
 * bias is selected) and δ_{n,c} the loss-Hessian factor column c of example n (S_n S_nᵀ = ∂²ℓ/∂z_n² at the split
 * point, the loss's reduction scale included) backpropagated to the layer's pre-activation:
 *
 *   A = (1/N) Σ_n ā_n ā_nᵀ,   B = Σ_n Σ_c δ_{n,c} δ_{n,c}ᵀ,
 *
 * so that the layer's GGN block Σ_n (ā_n ā_nᵀ) ⊗ (Σ_c δ_{n,c} δ_{n,c}ᵀ) is approximated by A ⊗ B, exactly when ā_n
 * is the same for every example (one example, say). The factor columns are the closed forms of the factor route
 * (`factor-backprop.ts`; C per example) or, for the Monte-Carlo variant, the loss gradients at S targets sampled from
 * the model's predictive distribution (`sampled-targets.ts`), divided by √(β·S) so that their outer products
 * estimate the same loss Hessian. All columns of a chunk go back together as one [m·N, units] matrix per layer.
 */
import * as tf from '@tensorflow/tfjs';
import { arraysFor, type ArrayGroup } from '../../contract/data/array-group.js';
import type { KfacPlan } from '../../contract/kfac-coverage.js';
import type { ParsedModel } from '../../contract/model/parsed-model.js';
import { toFloat64 } from '../../contract/ndarray.js';
import type { Rng } from '../estimators/rng.js';
import { LOSSES } from '../losses/index.js';
import { applyActivation } from '../model/activations.js';
import type { KroneckerFactors } from './kronecker.js';
import { likelihoodScale, sampleTargets } from './sampled-targets.js';

/** A covered layer's A (inSize × inSize) and B (outSize × outSize), row-major float64. */
export type KfacFactor = KroneckerFactors;

/** Where B's columns come from: the exact factor (C per example) or `samples` sampled gradients per example. */
export type KfacColumns = { type: 'exact' } | { type: 'mc'; samples: number; rng: Rng };

export interface Kfac {
  numExamples: number;
  /** Columns per example: C for the exact factor, `samples` for the Monte-Carlo one. */
  columnsPerExample(columns: KfacColumns): number;
  /** Chunks (units of work) `factors` takes for these columns. */
  chunks(columns: KfacColumns): number;
  /** A and B of every covered layer over the batch; `afterChunk` runs after each chunk (progress, cancellation). */
  factors(columns: KfacColumns, afterChunk?: () => Promise<void>): Promise<KfacFactor[]>;
  /**
   * Exact A and B of example `n` alone, B with the whole batch's reduction scale: A ⊗ B is then example n's exact
   * GGN block of the layer (its term of the batch's GGN).
   */
  exampleFactors(n: number): Promise<KfacFactor[]>;
  dispose(): void;
}

/** Floats one chunk's column tensor [m, N, width] may hold (16 MiB). */
const CHUNK_FLOATS = 2 ** 22;

/** The forward quantities a backward pass over some examples needs. */
interface View {
  n: number;
  /** Per step: its input [n, in] and its activation's slope at the pre-activation [n, out] (null when linear). */
  inputs: tf.Tensor2D[];
  slopes: (tf.Tensor2D | null)[];
  /** The split-point values [n, C]. */
  z: tf.Tensor2D;
  /** Softmax: √p transposed [C, n, 1], p [1, n, C] and √(Σ_k t_k) [1, n, 1]; sigmoid: √(scale·p(1−p)) as [C, n, 1]. */
  factor: tf.Tensor[];
}

const tensorsOf = (view: View): tf.Tensor[] => [
  ...view.inputs,
  ...view.slopes.filter((s): s is tf.Tensor2D => s !== null),
  view.z,
  ...view.factor,
];

/** Builds a view in a tidy scope, keeping only the view's own tensors. */
function keptView(build: () => View): View {
  let view: View | undefined;
  tf.tidy(() => {
    view = build();
    for (const t of tensorsOf(view)) tf.keep(t);
  });
  return view!;
}

export function buildKfac(
  plan: KfacPlan,
  problem: { model: ParsedModel; inputs: ArrayGroup; targets: ArrayGroup },
  theta: tf.Tensor1D,
): Kfac {
  const { model } = problem;
  const xArray = arraysFor(problem.inputs, [model.inputs[0].name], 'inputs')[0].array;
  const tArray = arraysFor(problem.targets, [model.outputs[0].name], 'targets')[0].array;
  const n = xArray.shape[0];
  const k = plan.outputs;
  // Keras reductions: the mean over examples (or sum); MSE and BCE also average over the output's last axis.
  const perExample = plan.loss.reduction === 'sum' ? 1 : 1 / n;
  const scale = plan.kind === 'softmax' ? perExample : perExample / k;
  const lowest = Math.min(...plan.layers.map((l) => l.step));
  const steps = plan.steps;
  const width = Math.max(
    k,
    ...steps.slice(lowest).map(({ layer }) => (layer.kind === 'dense' ? layer.units : 0)),
    ...plan.layers.map((l) => l.inputs),
  );

  // Soft categorical targets: Keras's −Σ t log softmax(z) has Hessian (Σ_k t_k)(diag p − ppᵀ).
  const targetMass = new Float32Array(n).fill(1);
  if (plan.kind === 'softmax' && plan.loss.name === 'categorical_crossentropy') {
    const t = toFloat64(tArray);
    const classes = t.length / n;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < classes; c++) s += t[i * classes + c];
      targetMass[i] = s;
    }
  }

  const layouts = new Map(
    plan.layers.flatMap((l) => [l.kernel, l.bias]).flatMap((p) => (p ? [[p.name, p]] : [])),
  );
  const weights = new Map(model.weights.map((w) => [w.name, w]));
  const params = new Map<string, tf.Tensor>();
  const param = (name: string): tf.Tensor => {
    let t = params.get(name);
    if (!t) {
      const p = layouts.get(name);
      const w = weights.get(name)!;
      // Kept: first asked for inside a tidy scope, it lives until dispose.
      t = tf.keep(
        p
          ? tf.tidy(() => tf.reshape(tf.slice(theta, [p.offset], [p.size]), p.shape))
          : tf.tensor(w.values, w.shape, 'float32'),
      );
      params.set(name, t);
    }
    return t;
  };

  // The forward pass over the batch, once: each step's input and slope, and the split-point values.
  const full = keptView(() => {
    const x = tf.tensor2d(Float32Array.from(toFloat64(xArray)), [n, xArray.shape[1]], 'float32');
    const inputs: tf.Tensor2D[] = [];
    const slopes: (tf.Tensor2D | null)[] = [];
    let a: tf.Tensor2D = x;
    for (const { layer, activation } of steps) {
      let pre = a;
      if (layer.kind === 'dense') {
        pre = tf.matMul(a, param(`${layer.name}/kernel`) as tf.Tensor2D);
        if (layer.useBias) pre = tf.add(pre, param(`${layer.name}/bias`));
      }
      inputs.push(a);
      const active = activation && activation !== 'linear' ? activation : null;
      slopes.push(
        active ? (tf.grad((u: tf.Tensor) => tf.sum(applyActivation(active, u)))(pre) as tf.Tensor2D) : null,
      );
      a = active ? (applyActivation(active, pre) as tf.Tensor2D) : pre;
    }
    const z = a;
    const factor: tf.Tensor[] = [];
    if (plan.kind === 'softmax') {
      const p = tf.softmax(tf.sub(z, tf.max(z, -1, true)));
      factor.push(
        tf.reshape(tf.transpose(tf.sqrt(p)), [k, n, 1]),
        tf.reshape(p, [1, n, k]),
        tf.reshape(tf.sqrt(tf.tensor1d(targetMass)), [1, n, 1]),
      );
    } else if (plan.kind === 'sigmoid') {
      const p = tf.sigmoid(z);
      factor.push(tf.reshape(tf.transpose(tf.sqrt(tf.mul(scale, tf.mul(p, tf.sub(1, p))))), [k, n, 1]));
    }
    return { n, inputs, slopes, z, factor };
  });

  /** The view of example `i` alone. */
  const exampleView = (i: number): View =>
    keptView(() => ({
      n: 1,
      inputs: full.inputs.map((t) => tf.slice(t, [i, 0], [1, -1])),
      slopes: full.slopes.map((t) => (t ? tf.slice(t, [i, 0], [1, -1]) : null)),
      z: tf.slice(full.z, [i, 0], [1, -1]),
      // The example axis is 1 in every factor tensor.
      factor: full.factor.map((t) => tf.slice(t, [0, i, 0], [-1, 1, -1])),
    }));

  const chunkSize = (view: View, count: number) =>
    Math.max(1, Math.min(count, Math.floor(CHUNK_FLOATS / (view.n * width))));

  /** Exact factor columns c0 … c0+m−1 of every example of the view: [m, n, C]. */
  const exactColumns = (view: View, c0: number, m: number): tf.Tensor => {
    const rows = new Float32Array(m * k);
    for (let i = 0; i < m; i++) rows[i * k + c0 + i] = 1;
    const eye = tf.tensor3d(rows, [m, 1, k]);
    if (plan.kind === 'softmax') {
      const [sqrtP, p, mass] = view.factor;
      const sq = tf.slice(sqrtP, [c0, 0, 0], [m, -1, -1]);
      // diag(p) − ppᵀ = S Sᵀ with S = diag(√p) − p √pᵀ (as Σ p = 1).
      return tf.mul(tf.mul(Math.sqrt(scale), mass), tf.sub(tf.mul(sq, eye), tf.mul(sq, p)));
    }
    if (plan.kind === 'sigmoid') return tf.mul(tf.slice(view.factor[0], [c0, 0, 0], [m, -1, -1]), eye);
    return tf.mul(Math.sqrt(2 * scale), tf.tile(eye, [1, view.n, 1]));
  };

  /** Monte-Carlo columns for the next m samples: ∇_zℓ at sampled targets, divided by √(β·S) (and scaled). */
  const sampledColumns = (zValues: Float32Array, m: number, total: number, rng: Rng): tf.Tensor => {
    const targets = sampleTargets(zValues, [n, k], plan.loss, plan.split, m, rng);
    const stacked = new Float32Array(m * n * k);
    targets.forEach((t, s) => stacked.set(t, s * n * k));
    const beta = likelihoodScale(plan.loss, [n, k]);
    const t = tf.tensor2d(stacked, [m * n, k]);
    const zs = tf.tile(full.z, [m, 1]);
    // Per-position gradients (reduction 'sum' over the stacked rows), then the batch's reduction scale.
    const perPosition = { ...plan.loss, reduction: 'sum' as const };
    const g = tf.grad((u: tf.Tensor) => LOSSES[plan.loss.name](u, t, plan.split, perPosition))(zs);
    return tf.mul(Math.sqrt(perExample / (beta * total)), tf.reshape(g, [m, n, k]));
  };

  /** Adds Σ δδᵀ at every covered layer for the columns `delta` [m, n, C] into `b`. */
  const backpropagate = (view: View, delta: tf.Tensor, b: Float64Array[]): void => {
    const blocks = tf.tidy(() => {
      const out: tf.Tensor[] = new Array(plan.layers.length);
      const byStep = new Map(plan.layers.map((l, i) => [l.step, i]));
      const m = delta.shape[0];
      let d = delta;
      for (let s = steps.length - 1; s >= lowest; s--) {
        const { layer } = steps[s];
        const slope = view.slopes[s];
        if (slope) d = tf.mul(d, slope);
        if (layer.kind !== 'dense') continue;
        const rows = tf.reshape(d, [m * view.n, layer.units]);
        const i = byStep.get(s);
        if (i !== undefined) out[i] = tf.matMul(rows, rows, true, false);
        if (s > lowest) {
          d = tf.reshape(tf.matMul(rows, param(`${layer.name}/kernel`) as tf.Tensor2D, false, true), [
            m,
            view.n,
            -1,
          ]);
        }
      }
      return out;
    });
    blocks.forEach((t, i) => {
      const values = t.dataSync();
      for (let j = 0; j < values.length; j++) b[i][j] += values[j];
      t.dispose();
    });
  };

  /** A = (1/n) Σ ā āᵀ over the view's examples, per covered layer. */
  const inputFactors = (view: View): Float64Array[] =>
    plan.layers.map((layer) => {
      const t = tf.tidy(() => {
        const input = view.inputs[layer.step];
        const ones = tf.ones([view.n, 1]);
        const augmented = layer.kernel ? (layer.bias ? tf.concat([input, ones], 1) : input) : ones;
        return tf.div(tf.matMul(augmented, augmented, true, false), view.n);
      });
      try {
        return Float64Array.from(t.dataSync());
      } finally {
        t.dispose();
      }
    });

  const run = async (
    view: View,
    columns: KfacColumns,
    afterChunk?: () => Promise<void>,
  ): Promise<KfacFactor[]> => {
    const a = inputFactors(view);
    const b = plan.layers.map((l) => new Float64Array(l.outSize * l.outSize));
    const count = columns.type === 'exact' ? k : columns.samples;
    const chunk = chunkSize(view, count);
    const zValues = columns.type === 'mc' ? Float32Array.from(full.z.dataSync()) : null;
    for (let c0 = 0; c0 < count; c0 += chunk) {
      const m = Math.min(chunk, count - c0);
      const delta = tf.tidy(() =>
        columns.type === 'exact'
          ? exactColumns(view, c0, m)
          : sampledColumns(zValues!, m, columns.samples, columns.rng),
      );
      try {
        backpropagate(view, delta, b);
      } finally {
        delta.dispose();
      }
      await afterChunk?.();
    }
    return plan.layers.map((layer, i) => ({ layer, a: a[i], b: b[i] }));
  };

  const countOf = (columns: KfacColumns) => (columns.type === 'exact' ? k : columns.samples);
  return {
    numExamples: n,
    columnsPerExample: countOf,
    chunks: (columns) => Math.ceil(countOf(columns) / chunkSize(full, countOf(columns))),
    factors: (columns, afterChunk) => run(full, columns, afterChunk),
    exampleFactors: async (i) => {
      const view = exampleView(i);
      try {
        return await run(view, { type: 'exact' });
      } finally {
        tf.dispose(tensorsOf(view));
      }
    },
    dispose: () => {
      tf.dispose(tensorsOf(full));
      tf.dispose([...params.values()]);
    },
  };
}
