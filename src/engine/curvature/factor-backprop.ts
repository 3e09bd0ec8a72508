/**
 * The exact GGN diagonal by backpropagating a symmetric factor of the loss Hessian (BackPACK's DiagGGN): with
 * S_n S_nᵀ = ∂²ℓ/∂z_n² at the split point z (closed forms below), diag(G) = Σ_n Σ_c (J_nᵀ s_{n,c})², and for a Dense
 * layer z = a W + b the per-example product J_nᵀ s splits as a_n ⊗ δ_{n,c}, where δ is s backpropagated to the layer's
 * output. All C columns of every example go back together as one [C·N, units] matrix per layer, so the cost is about C
 * gradients instead of P products.
 *
 * Covered (else `null`, and the caller takes the general route): single-input, single-output chains of Dense,
 * elementwise activations (as Activation layers or a Dense's own) and inference no-ops, with rank-2 outputs, for
 * softmax cross-entropy (fused or from logits), sigmoid binary cross-entropy (fused or from logits), mean squared
 * error and Huber on a linear output. Other layer kinds are issue 10's next steps.
 */
import * as tf from '@tensorflow/tfjs';
import type { ActivationName } from '../../contract/model/activation-names.js';
import type { LayerSpec, ParsedModel } from '../../contract/model/parsed-model.js';
import type { LossSpec } from '../../contract/request-schema.js';
import type { ParamLayout } from '../../contract/types.js';
import { applyActivation } from '../model/activations.js';
import { LOSSES } from '../losses/index.js';

type Factor = 'softmax' | 'sigmoid' | 'identity' | 'huber';

/** Activations applied elementwise (so their Jacobian is diagonal). */
const NOT_ELEMENTWISE = new Set<ActivationName>(['softmax']);

interface ChainStep {
  layer: LayerSpec;
  /** The activation this step applies after it (Dense's own, or an Activation layer's); null when split off. */
  activation: ActivationName | null;
}

/** The loss's factor at the split point, or null when it has no closed form here. */
function factorKind(loss: LossSpec, split: 'softmax' | 'sigmoid' | 'linear'): Factor | null {
  const crossEntropy =
    loss.name === 'categorical_crossentropy' || loss.name === 'sparse_categorical_crossentropy';
  if (crossEntropy && (split === 'softmax' || (split === 'linear' && loss.fromLogits))) return 'softmax';
  if (
    loss.name === 'binary_crossentropy' &&
    (split === 'sigmoid' || (split === 'linear' && loss.fromLogits))
  ) {
    return 'sigmoid';
  }
  if (loss.name === 'mean_squared_error' && split === 'linear') return 'identity';
  if (loss.name === 'huber' && split === 'linear') return 'huber';
  return null;
}

/** The model as a chain the factor route covers, or null. */
function chainOf(model: ParsedModel, splitLayer: string | null): ChainStep[] | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const steps: ChainStep[] = [];
  let previous = model.inputs[0].name;
  for (const layer of model.layers) {
    if (layer.kind === 'input') continue;
    if (layer.inbound.length !== 1 || layer.inbound[0] !== previous) return null;
    previous = layer.name;
    if (layer.kind === 'identity') continue;
    if (layer.kind !== 'dense' && layer.kind !== 'activation') return null;
    const activation = layer.name === splitLayer ? null : layer.activation;
    if (activation && NOT_ELEMENTWISE.has(activation)) return null;
    if (layer.kind === 'dense' && layer.inputShapes[0].length !== 1) return null;
    steps.push({ layer, activation });
  }
  return previous === model.outputs[0].name ? steps : null;
}

/** A Dense layer's share of a set of columns backpropagated to it: its input a and the columns δ at its output. */
interface DenseTerm {
  /** Offsets of its kernel ([in, units] row-major) and bias in θ, −1 when not selected. */
  kernel: number;
  bias: number;
  inputs: number;
  units: number;
  /** [N, in] */
  input: tf.Tensor2D;
  /** [C, N, units]: for the loss-Hessian factor, Σ_c δ[c,n] δ[c,n]ᵀ = J_nᵀ ∂²ℓ/∂z_n² J_n at the layer's output */
  delta: tf.Tensor3D;
}

/** The Hessian's terms beyond the GGN, as columns backpropagated to the Dense layers below them. */
interface Residual {
  /**
   * Per elementwise activation with a second derivative: Σ_n Σ_j r_{n,j} ∇z_{n,j} ∇z_{n,j}ᵀ, r = (∂L/∂φ)·φ''(z),
   * as the unit columns e_j at its input backpropagated (`below`) and r as [units, N, 1].
   */
  curvature: { weights: tf.Tensor3D; below: DenseTerm[] }[];
  /**
   * Per Dense layer above another: z = a W is bilinear in W and a, so H[W_ij, θ'] += Σ_n g_{n,j} ∂a_{n,i}/∂θ'
   * with g = ∂L/∂z, as g [N, units] and the unit columns e_i at its input backpropagated (`below`).
   */
  bilinear: { layer: DenseTerm; gradient: tf.Tensor2D; below: DenseTerm[] }[];
}

/** Floats per intermediate of the Khatri–Rao products (chunks of examples keep them under 64 MiB). */
const CHUNK_FLOATS = 16 * 2 ** 20;
/** The Hessian route's unit columns, per set, at most (128 MiB); wider layers take the general route. */
const RESIDUAL_COLUMN_FLOATS = 32 * 2 ** 20;
/** Activations whose second derivative is zero almost everywhere. */
const PIECEWISE_LINEAR = new Set<ActivationName>(['linear', 'relu', 'relu6', 'hard_sigmoid']);

export interface FactorBackprop {
  /** diag(G) of the data term over θ (float32, in θ's layout); the caller adds the l2 term. */
  ggnDiagonal(theta: tf.Tensor1D): Float32Array;
  /**
   * diag(H) of the data term: diag(G) plus the activations' curvature terms (the bilinear terms lie off the
   * diagonal); null when the chain's layers are too wide for the route.
   */
  hessianDiagonal(theta: tf.Tensor1D): Float32Array | null;
  /** Whether `dense` covers the Hessian (else only the GGN). */
  readonly coversHessian: boolean;
  /**
   * The dense GGN or Hessian of the data term (row-major P×P float32, symmetric by construction) with the entries
   * whose block ids differ left at 0 and, when `full` is false, the blocks between different layers not computed;
   * the caller adds the l2 term. `unit` is awaited after each part (`denseParts` in all).
   */
  dense(
    curvature: 'ggn' | 'hessian',
    theta: tf.Tensor1D,
    ids: Int32Array,
    full: boolean,
    unit: () => Promise<void>,
  ): Promise<Float32Array>;
  denseParts(curvature: 'ggn' | 'hessian', full: boolean): number;
  /**
   * [H v₁, …, H v_k] or [G v₁, …, G v_k] of the data term at θ₀ (the caller adds l2·v), by a forward tangent pass
   * and its reverse (Pearlmutter's R-operator) written out for the chain: the forward pass and the gradient at θ₀
   * are computed once and shared by every product, and k directions ride along a leading copy axis.
   */
  products(
    curvature: 'ggn' | 'hessian',
    theta: tf.Tensor1D,
    directions: readonly Float64Array[],
  ): Float64Array[];
  /** Frees the shared linearization (if built). */
  dispose(): void;
}

/**
 * The factor route for a model, loss and batch, or null when not covered.
 * @param split the activation split off at the logits ('linear' when none): the objective's fused final activation
 * @param constants weights not in θ, by name
 */
export function buildFactorBackprop(
  model: ParsedModel,
  x: tf.Tensor,
  targets: tf.Tensor,
  loss: LossSpec,
  split: 'softmax' | 'sigmoid' | 'linear',
  layout: ParamLayout[],
  constants: Record<string, tf.Tensor>,
): FactorBackprop | null {
  const kind = factorKind(loss, split);
  if (!kind) return null;
  const splitLayer = split === 'linear' ? null : model.outputs[0].finalActivation.layer;
  const chain = chainOf(model, splitLayer);
  const outShape = model.layers[model.layers.length - 1].outputShape;
  if (!chain || outShape.length !== 1 || x.rank !== 2) return null;
  const steps: ChainStep[] = chain;
  const n = x.shape[0];
  const k = outShape[0];
  // Keras reductions: the mean over examples (or sum), and for MSE and BCE the mean over the output's last axis.
  const perExample = loss.reduction === 'sum' ? 1 : 1 / n;
  const scale = kind === 'softmax' ? perExample : perExample / k;
  const offsets = new Map(layout.map((p) => [p.name, p]));
  const selected = (layer: LayerSpec) =>
    layer.kind === 'dense' && (offsets.has(`${layer.name}/kernel`) || offsets.has(`${layer.name}/bias`));
  const selectedLayers = steps.filter(({ layer }) => selected(layer)).length;
  /** Whether a selected Dense layer lies strictly below step s. */
  const selectedBelow = (s: number) => steps.slice(0, s).some(({ layer }) => selected(layer));
  const curves = (activation: ActivationName | null) => !!activation && !PIECEWISE_LINEAR.has(activation);
  const widths = steps.map(({ layer }) => (layer.kind === 'dense' ? layer.units : 0));
  const widest = Math.max(...widths);
  const inputWidth = (s: number) => (s === 0 ? x.shape[1]! : (steps[s - 1].layer.outputShape[0] ?? 0));
  // The unit columns at a layer of width u reach the layers below as [u, N, units]: bounded by the widest.
  const coversHessian = steps.every(
    (_, s) => Math.max(widths[s], inputWidth(s)) * n * widest <= RESIDUAL_COLUMN_FLOATS,
  );

  /**
   * ∂²L/∂z² for the losses whose Hessian in z is diagonal, [N, K]: sigmoid cross-entropy p(1−p), MSE 2, Huber 1
   * where |z − t| ≤ δ (the quadratic side, the kink included as the loss's own `where` does) and 0 elsewhere; times
   * the reduction's scale. Only Huber's depends on the targets.
   */
  function diagonalLossHessian(z: tf.Tensor): tf.Tensor {
    if (kind === 'sigmoid') {
      const p = tf.sigmoid(z);
      return tf.mul(scale, tf.mul(p, tf.sub(1, p)));
    }
    if (kind === 'huber' && loss.name === 'huber') {
      const inside = tf.lessEqual(tf.abs(tf.sub(z, targets)), loss.delta);
      return tf.mul(scale, tf.cast(inside, 'float32'));
    }
    return tf.fill(z.shape, 2 * scale);
  }

  interface Saved {
    input: tf.Tensor;
    pre: tf.Tensor;
  }

  /** The forward pass, keeping each step's input and pre-activation (inside the caller's tidy). */
  function forward(theta: tf.Tensor1D) {
    const param = (name: string) => {
      const p = offsets.get(name);
      return p ? tf.reshape(tf.slice(theta, [p.offset], [p.size]), p.shape) : constants[name];
    };
    const saved: Saved[] = [];
    let a: tf.Tensor = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    for (const { layer, activation } of steps) {
      let pre = a;
      if (layer.kind === 'dense') {
        pre = tf.matMul(a, param(`${layer.name}/kernel`));
        if (layer.useBias) pre = tf.add(pre, param(`${layer.name}/bias`));
      }
      saved.push({ input: a, pre });
      a = activation ? applyActivation(activation, pre) : pre;
    }
    return { saved, z: a, param };
  }

  const slopeOf = (activation: ActivationName, pre: tf.Tensor) =>
    tf.grad((u: tf.Tensor) => tf.sum(applyActivation(activation, u)))(pre);

  /**
   * Columns δ [C, N, width] backpropagated from step `from` down to the first: at each step through its activation's
   * slope (except `from`'s own when the columns start at its pre-activation), recorded at each Dense layer, then
   * through its kernel. Kept tensors, last layer first.
   */
  function walkDown(
    forwardPass: ReturnType<typeof forward>,
    from: number,
    start: tf.Tensor,
    atPreActivation: boolean,
  ): DenseTerm[] {
    const { saved, param } = forwardPass;
    const terms: DenseTerm[] = [];
    let delta = start;
    for (let s = from; s >= 0; s--) {
      const { layer, activation } = steps[s];
      const { input, pre } = saved[s];
      if (activation && activation !== 'linear' && !(atPreActivation && s === from)) {
        delta = tf.mul(delta, slopeOf(activation, pre));
      }
      if (layer.kind !== 'dense') continue;
      const units = layer.units;
      if (selected(layer)) {
        terms.push({
          kernel: offsets.get(`${layer.name}/kernel`)?.offset ?? -1,
          bias: offsets.get(`${layer.name}/bias`)?.offset ?? -1,
          inputs: input.shape[1]!,
          units,
          input: tf.keep(input as tf.Tensor2D),
          delta: tf.keep(delta as tf.Tensor3D),
        });
      }
      if (s > 0) {
        const w = param(`${layer.name}/kernel`);
        const c = delta.shape[0];
        delta = tf.reshape(tf.matMul(tf.reshape(delta, [c * n, units]), w, false, true), [c, n, -1]);
      }
    }
    return terms;
  }

  /** Unit columns [u, N, u]: e_j for every example. */
  const unitColumns = (u: number) => tf.tile(tf.reshape(tf.eye(u), [u, 1, u]), [1, n, 1]);

  /** The loss-Hessian factor's columns backpropagated to every selected Dense layer. */
  function factorTerms(theta: tf.Tensor1D): DenseTerm[] {
    return tf.tidy(() => {
      const pass = forward(theta);
      const { z } = pass;
      // Factor columns δ [C, N, K] with Σ_c δ[c,n]δ[c,n]ᵀ = ∂²ℓ/∂z_n².
      let delta: tf.Tensor;
      const eye = tf.reshape(tf.eye(k), [k, 1, k]);
      if (kind === 'softmax') {
        // diag(p) − ppᵀ = S Sᵀ with S = diag(√p) − p √pᵀ (as Σ p = 1).
        const p = tf.softmax(tf.sub(z, tf.max(z, -1, true)));
        const sqrtP = tf.reshape(tf.transpose(tf.sqrt(p)), [k, n, 1]);
        // Keras's −Σ t log softmax(z) has Hessian (Σ_k t_k)(diag(p) − ppᵀ): soft targets need not sum to 1.
        const weight = tf.reshape(tf.sqrt(tf.sum(targets, -1)), [1, n, 1]);
        delta = tf.mul(
          tf.mul(Math.sqrt(scale), weight),
          tf.sub(tf.mul(sqrtP, eye), tf.mul(sqrtP, tf.reshape(p, [1, n, k]))),
        );
      } else {
        // A diagonal loss Hessian d: the factor is diag(√d).
        const root = tf.sqrt(diagonalLossHessian(z));
        delta = tf.mul(tf.reshape(tf.transpose(root), [k, n, 1]), eye);
      }
      return walkDown(pass, steps.length - 1, delta, false) as unknown as tf.TensorContainer;
    }) as unknown as DenseTerm[];
  }

  /** The Hessian's terms beyond the GGN (kept tensors). */
  function residualTerms(theta: tf.Tensor1D): Residual {
    const residual: Residual = { curvature: [], bilinear: [] };
    tf.tidy(() => {
      const pass = forward(theta);
      // ∂L/∂z at the split point, from the loss itself.
      let adjoint = tf.grad((z: tf.Tensor) => LOSSES[loss.name](z, targets, split, loss))(pass.z);
      for (let s = steps.length - 1; s >= 0; s--) {
        const { layer, activation } = steps[s];
        const { pre } = pass.saved[s];
        if (activation && activation !== 'linear') {
          if (curves(activation) && selectedBelow(s + 1)) {
            const second = tf.grad((u: tf.Tensor) => tf.sum(slopeOf(activation, u)))(pre);
            const width = pre.shape[1]!;
            residual.curvature.push({
              weights: tf.keep(tf.reshape(tf.transpose(tf.mul(adjoint, second)), [width, n, 1])),
              below: walkDown(pass, s, unitColumns(width), true),
            });
          }
          adjoint = tf.mul(adjoint, slopeOf(activation, pre));
        }
        if (layer.kind !== 'dense') continue;
        if (offsets.has(`${layer.name}/kernel`) && selectedBelow(s)) {
          const below = walkDown(pass, s - 1, unitColumns(inputWidth(s)), false);
          const input = pass.saved[s].input as tf.Tensor2D;
          const self: DenseTerm = {
            kernel: offsets.get(`${layer.name}/kernel`)!.offset,
            bias: -1,
            inputs: inputWidth(s),
            units: layer.units,
            input: tf.keep(input),
            delta: tf.keep(tf.zeros([0, n, layer.units])),
          };
          residual.bilinear.push({ layer: self, gradient: tf.keep(adjoint as tf.Tensor2D), below });
        }
        adjoint = tf.matMul(adjoint, pass.param(`${layer.name}/kernel`), false, true);
      }
    });
    return residual;
  }

  // The first layer's input may be the objective's own x, which stays.
  const disposeTerms = (terms: DenseTerm[]) =>
    terms.forEach((t) => tf.dispose(t.input === x ? t.delta : [t.input, t.delta]));
  const disposeResidual = (r: Residual) => {
    for (const c of r.curvature) {
      c.weights.dispose();
      disposeTerms(c.below);
    }
    for (const b of r.bilinear) {
      b.gradient.dispose();
      disposeTerms([b.layer, ...b.below]);
    }
  };

  /** Σ over the terms' columns of (ā ⊗ δ)² (optionally weighted per column), added into `diag`. */
  function addDiagonal(diag: Float32Array, terms: DenseTerm[], weights?: tf.Tensor) {
    tf.tidy(() => {
      for (const t of terms) {
        const squared = tf.sum(weights ? tf.mul(weights, tf.square(t.delta)) : tf.square(t.delta), 0);
        const add = (values: ArrayLike<number>, offset: number) => {
          for (let i = 0; i < values.length; i++) diag[offset + i] += values[i];
        };
        if (t.kernel >= 0) add(tf.matMul(tf.square(t.input), squared, true, false).dataSync(), t.kernel);
        if (t.bias >= 0) add(tf.sum(squared, 0).dataSync(), t.bias);
      }
    });
  }

  /** What every product at θ₀ shares: the forward pass, the activations' derivatives and the gradient's adjoints. */
  interface Linearization {
    inputs: tf.Tensor2D[];
    /** Per Dense step: its input transposed [in, N] and its kernel W and Wᵀ. */
    inputsT: (tf.Tensor2D | null)[];
    kernels: (tf.Tensor2D | null)[];
    kernelsT: (tf.Tensor2D | null)[];
    /** Per step with an activation: φ'(pre), and φ''(pre) when it curves. */
    slopes: (tf.Tensor2D | null)[];
    curvatures: (tf.Tensor2D | null)[];
    /** ∂L/∂out and ∂L/∂pre per step. */
    adjointsOut: tf.Tensor2D[];
    adjointsPre: tf.Tensor2D[];
    /** The loss Hessian at z applied to [k, N, K] tangents. */
    lossCurvature: (u: tf.Tensor3D) => tf.Tensor3D;
    /** [1, N] of ones: sums over examples as a 2-D product. */
    ones: tf.Tensor2D;
    /** The θ it was taken at, and the tensors it keeps. */
    theta: tf.Tensor1D;
    held: tf.Tensor[];
  }
  let linearization: Linearization | null = null;

  function linearize(theta: tf.Tensor1D): Linearization {
    const held: tf.Tensor[] = [];
    // The objective's own tensors (x, the unselected weights) stay with it.
    const owned = new Set<tf.Tensor>([x, targets, ...Object.values(constants)]);
    const keep = <T extends tf.Tensor>(t: T): T => {
      if (!owned.has(t)) held.push(tf.keep(t));
      return t;
    };
    let result: Linearization | null = null;
    tf.tidy(() => {
      const pass = forward(theta);
      const dense = steps.map(({ layer }) => layer.kind === 'dense');
      const kernels = steps.map(({ layer }, s) =>
        dense[s] ? keep(pass.param(`${layer.name}/kernel`) as tf.Tensor2D) : null,
      );
      const slopes = steps.map(({ activation }, s) =>
        activation && activation !== 'linear'
          ? keep(slopeOf(activation, pass.saved[s].pre) as tf.Tensor2D)
          : null,
      );
      const curvatures = steps.map(({ activation }, s) =>
        activation && curves(activation)
          ? keep(tf.grad((u: tf.Tensor) => tf.sum(slopeOf(activation, u)))(pass.saved[s].pre) as tf.Tensor2D)
          : null,
      );
      const adjointsOut: tf.Tensor2D[] = new Array(steps.length);
      const adjointsPre: tf.Tensor2D[] = new Array(steps.length);
      let adjoint = tf.grad((z: tf.Tensor) => LOSSES[loss.name](z, targets, split, loss))(
        pass.z,
      ) as tf.Tensor2D;
      for (let s = steps.length - 1; s >= 0; s--) {
        adjointsOut[s] = keep(adjoint);
        if (slopes[s]) adjoint = tf.mul(adjoint, slopes[s]!);
        adjointsPre[s] = keep(adjoint);
        if (dense[s]) adjoint = tf.matMul(adjoint, kernels[s]!, false, true);
      }
      const z = pass.z;
      let lossCurvature: Linearization['lossCurvature'];
      if (kind === 'softmax') {
        const p = keep(tf.softmax(tf.sub(z, tf.max(z, -1, true))));
        // (Σ_k t_k)(diag(p) − ppᵀ) u, times the reduction's scale.
        const weight = keep(tf.mul(scale, tf.sum(targets, -1, true)));
        lossCurvature = (u) => {
          const pu = tf.mul(p, u);
          return tf.mul(weight, tf.sub(pu, tf.mul(p, tf.sum(pu, -1, true)))) as tf.Tensor3D;
        };
      } else {
        const d = keep(diagonalLossHessian(z));
        lossCurvature = (u) => tf.mul(d, u) as tf.Tensor3D;
      }
      result = {
        inputs: pass.saved.map(({ input }) => keep(input as tf.Tensor2D)),
        inputsT: pass.saved.map(({ input }, s) =>
          dense[s] ? keep(tf.transpose(input) as tf.Tensor2D) : null,
        ),
        kernels,
        kernelsT: kernels.map((w) => (w ? keep(tf.transpose(w)) : null)),
        slopes,
        curvatures,
        adjointsOut,
        adjointsPre,
        lossCurvature,
        ones: keep(tf.ones([1, n])),
        theta,
        held,
      };
    });
    return result!;
  }

  /** [N, k·u] → [k, N, u] and back: the copy axis between shared rows and copy-major rows. */
  const copyMajor = (t: tf.Tensor, k: number, u: number) =>
    tf.transpose(tf.reshape(t, [n, k, u]), [1, 0, 2]) as tf.Tensor3D;
  const rowMajor = (t: tf.Tensor3D) => {
    const [k, rows, u] = t.shape;
    return tf.reshape(tf.transpose(t, [1, 0, 2]), [rows, k * u]);
  };

  function products(
    curvature: 'ggn' | 'hessian',
    theta: tf.Tensor1D,
    directions: readonly Float64Array[],
  ): Float64Array[] {
    if (linearization && linearization.theta !== theta) {
      tf.dispose(linearization.held);
      linearization = null;
    }
    const lin = (linearization ??= linearize(theta));
    const k = directions.length;
    const exact = curvature === 'hessian';
    const out = directions.map(() => new Float64Array(directions[0].length));
    tf.tidy(() => {
      /** The k directions' entries of a weight as [k, ...shape]. */
      const slice = (name: string, shape: number[]) => {
        const p = offsets.get(name);
        if (!p) return null;
        const values = new Float32Array(k * p.size);
        directions.forEach((v, c) => {
          for (let i = 0; i < p.size; i++) values[c * p.size + i] = v[p.offset + i];
        });
        return tf.tensor(values, [k, ...shape]);
      };
      const vKernel: (tf.Tensor3D | null)[] = [];
      const vBias: (tf.Tensor | null)[] = [];
      // Forward tangents: R(pre) per step, [k, N, width] (null while no selected weight lies below).
      const rPre: (tf.Tensor3D | null)[] = [];
      // R(out) per step: the next step's R(input).
      const rOuts: (tf.Tensor3D | null)[] = [];
      let rOut: tf.Tensor3D | null = null;
      steps.forEach(({ layer }, s) => {
        let r = rOut;
        if (layer.kind === 'dense') {
          const units = layer.units;
          const inputs = lin.inputs[s].shape[1];
          vKernel[s] = slice(`${layer.name}/kernel`, [inputs, units]) as tf.Tensor3D | null;
          vBias[s] = slice(`${layer.name}/bias`, [1, units]);
          let next: tf.Tensor | null = r
            ? tf.reshape(tf.matMul(tf.reshape(r, [k * n, inputs]), lin.kernels[s]!), [k, n, units])
            : null;
          if (vKernel[s]) {
            // a · V_c for every copy as one product with the copies' kernels side by side.
            const side = tf.reshape(tf.transpose(vKernel[s]!, [1, 0, 2]), [inputs, k * units]);
            const av = copyMajor(tf.matMul(lin.inputs[s], side), k, units);
            next = next ? tf.add(next, av) : av;
          }
          if (vBias[s]) next = next ? tf.add(next, vBias[s]!) : tf.tile(vBias[s]!, [1, n, 1]);
          r = next as tf.Tensor3D | null;
        }
        rPre[s] = r;
        rOut = r && lin.slopes[s] ? (tf.mul(r, lin.slopes[s]!) as tf.Tensor3D) : r;
        rOuts[s] = rOut;
      });
      // Reverse: R(∂L/∂out) from the loss Hessian, then through every step.
      let rAdjoint: tf.Tensor3D | null = rOut ? lin.lossCurvature(rOut) : null;
      const write = (name: string, values: tf.Tensor) => {
        const p = offsets.get(name);
        if (!p) return;
        const data = values.dataSync();
        for (let c = 0; c < k; c++) {
          const target = out[c];
          for (let i = 0; i < p.size; i++) target[p.offset + i] = data[c * p.size + i];
        }
      };
      for (let s = steps.length - 1; s >= 0; s--) {
        const { layer } = steps[s];
        if (rAdjoint && lin.slopes[s]) rAdjoint = tf.mul(rAdjoint, lin.slopes[s]!) as tf.Tensor3D;
        if (exact && lin.curvatures[s] && rPre[s]) {
          // (∂L/∂out) φ''(pre) R(pre): the activation's own curvature.
          const term = tf.mul(tf.mul(lin.adjointsOut[s], lin.curvatures[s]!), rPre[s]!) as tf.Tensor3D;
          rAdjoint = rAdjoint ? (tf.add(rAdjoint, term) as tf.Tensor3D) : term;
        }
        if (layer.kind !== 'dense') continue;
        const units = layer.units;
        const inputs = lin.inputs[s].shape[1];
        const rInput = s > 0 ? rOuts[s - 1] : null;
        // Copy-major rows [k, N, u] as [N, k·u]: the kernel's and the bias's gradients as 2-D products.
        const rows = rAdjoint ? rowMajor(rAdjoint) : null;
        if (offsets.has(`${layer.name}/kernel`)) {
          let g: tf.Tensor | null = rows
            ? tf.transpose(tf.reshape(tf.matMul(lin.inputsT[s]!, rows), [inputs, k, units]), [1, 0, 2])
            : null;
          if (exact && rInput) {
            // R(a)ᵀ ∂L/∂pre: the bilinear term of z = a W.
            const ra = tf.reshape(tf.transpose(rInput, [0, 2, 1]), [k * inputs, n]);
            const term = tf.reshape(tf.matMul(ra, lin.adjointsPre[s]), [k, inputs, units]);
            g = g ? tf.add(g, term) : term;
          }
          if (g) write(`${layer.name}/kernel`, g);
        }
        if (rows && offsets.has(`${layer.name}/bias`)) write(`${layer.name}/bias`, tf.matMul(lin.ones, rows));
        if (s === 0 || !selectedBelow(s)) break;
        let next: tf.Tensor | null = rAdjoint
          ? tf.reshape(tf.matMul(tf.reshape(rAdjoint, [k * n, units]), lin.kernelsT[s]!), [k, n, inputs])
          : null;
        if (exact && vKernel[s]) {
          // ∂L/∂pre · V_cᵀ: the other half of the bilinear term.
          const side = tf.reshape(tf.transpose(vKernel[s]!, [2, 0, 1]), [units, k * inputs]);
          const term = copyMajor(tf.matMul(lin.adjointsPre[s], side), k, inputs);
          next = next ? tf.add(next, term) : term;
        }
        rAdjoint = next as tf.Tensor3D | null;
      }
    });
    return out;
  }

  const pairs = (count: number, full: boolean) => (full ? (count * (count + 1)) / 2 : count);

  return {
    coversHessian,
    products,
    dispose() {
      if (linearization) tf.dispose(linearization.held);
      linearization = null;
    },

    ggnDiagonal(theta) {
      const diag = new Float32Array(theta.shape[0]);
      const terms = factorTerms(theta);
      try {
        addDiagonal(diag, terms);
      } finally {
        disposeTerms(terms);
      }
      return diag;
    },

    hessianDiagonal(theta) {
      if (!coversHessian) return null;
      const diag = this.ggnDiagonal(theta);
      const residual = residualTerms(theta);
      try {
        for (const c of residual.curvature) addDiagonal(diag, c.below, c.weights);
      } finally {
        disposeResidual(residual);
      }
      return diag;
    },

    denseParts(curvature, full) {
      if (curvature === 'ggn') return pairs(selectedLayers, full);
      // The residual's parts: one per curving activation and, for a full matrix, one per bilinear layer.
      const activations = steps.filter(
        ({ activation }, s) => curves(activation) && selectedBelow(s + 1),
      ).length;
      const bilinear = full
        ? steps.filter(({ layer }, s) => offsets.has(`${layer.name}/kernel`) && selectedBelow(s)).length
        : 0;
      return pairs(selectedLayers, full) + activations + bilinear;
    },

    async dense(curvature, theta, ids, full, unit) {
      const size = theta.shape[0];
      const matrix = new Float32Array(size * size);
      const terms = factorTerms(theta);
      try {
        for (let l = 0; l < terms.length; l++) {
          for (let m = l; m < (full ? terms.length : l + 1); m++) {
            khatriRaoBlock(terms[l], terms[m], undefined, matrix, size, ids);
            await unit();
          }
        }
      } finally {
        disposeTerms(terms);
      }
      if (curvature === 'ggn') return matrix;
      const residual = residualTerms(theta);
      try {
        for (const c of residual.curvature) {
          for (let l = 0; l < c.below.length; l++) {
            for (let m = l; m < (full ? c.below.length : l + 1); m++) {
              khatriRaoBlock(c.below[l], c.below[m], c.weights, matrix, size, ids);
            }
          }
          await unit();
        }
        if (full) {
          for (const b of residual.bilinear) {
            for (const t of b.below) bilinearBlock(b.layer, b.gradient, t, matrix, size, ids);
            await unit();
          }
        }
      } finally {
        disposeResidual(residual);
      }
      return matrix;
    },
  };
}

/**
 * Σ over chunks of examples of `part(start, rows)` (each a tensor of the same shape), read back as float32: the
 * chunks keep every intermediate of a Khatri–Rao product under CHUNK_FLOATS.
 */
function sumOverExamples(
  n: number,
  floatsPerExample: number,
  part: (start: number, rows: number) => tf.Tensor,
): Float32Array {
  const chunk = Math.max(1, Math.floor(CHUNK_FLOATS / floatsPerExample));
  const products = tf.tidy(() => {
    let sum: tf.Tensor | null = null;
    for (let start = 0; start < n; start += chunk) {
      const next = part(start, Math.min(chunk, n - start));
      sum = sum ? tf.add(sum, next) : next;
    }
    return sum!;
  });
  const values = products.dataSync() as Float32Array;
  products.dispose();
  return values;
}

/** θ's index of (input row i, unit j) of a Dense term, the bias as input row `inputs`; −1 when not selected. */
const indexOf = (t: DenseTerm, i: number, j: number) =>
  i < t.inputs ? (t.kernel < 0 ? -1 : t.kernel + i * t.units + j) : t.bias < 0 ? -1 : t.bias + j;

/**
 * Adds the block between Dense layers L and M of Σ_n Σ_c w_{c,n} (ā_{L,n} ⊗ δ_{L,c,n})(ā_{M,n} ⊗ δ_{M,c,n})ᵀ into
 * `matrix` (and its mirror), with the bias as an input column of ones (ā = [a, 1]):
 *   [(i,j),(k,l)] = Σ_n ā_{L,n,i} ā_{M,n,k} T_n[j,l],  T_n = Σ_c w_{c,n} δ_{L,c,n} δ_{M,c,n}ᵀ,
 * one matrix product [(in_L+1)(in_M+1), N]·[N, units_L·units_M]: 2·N·P_L·P_M flops instead of the 2·C·N·P_L·P_M
 * of MᵀM with M the C·N per-example rows (BackPACK's sqrt-GGN), C times fewer.
 */
function khatriRaoBlock(
  tl: DenseTerm,
  tm: DenseTerm,
  weights: tf.Tensor | undefined,
  matrix: Float32Array,
  size: number,
  ids: Int32Array,
): void {
  const inL = tl.inputs + 1;
  const inM = tm.inputs + 1;
  const uL = tl.units;
  const uM = tm.units;
  const [c, n] = tl.delta.shape;
  const augmented = (t: DenseTerm) => tf.transpose(tf.concat([t.input, tf.ones([n, 1])], 1)); // [in+1, N]
  const r = tf.tidy(() => {
    const aL = augmented(tl);
    const aM = tl === tm ? aL : augmented(tm);
    return sumOverExamples(n, Math.max(inL * inM, c * uL * uM), (start, rows) => {
      const outer = tf.reshape(
        tf.mul(
          tf.reshape(tf.slice(aL, [0, start], [inL, rows]), [inL, 1, rows]),
          tf.reshape(tf.slice(aM, [0, start], [inM, rows]), [1, inM, rows]),
        ),
        [inL * inM, rows],
      );
      let dL = tf.slice(tl.delta, [0, start, 0], [c, rows, uL]);
      if (weights) dL = tf.mul(dL, tf.slice(weights, [0, start, 0], [c, rows, 1]));
      const dM = tf.slice(tm.delta, [0, start, 0], [c, rows, uM]);
      const t = tf.reshape(
        tf.sum(tf.mul(tf.reshape(dL, [c, rows, uL, 1]), tf.reshape(dM, [c, rows, 1, uM])), 0),
        [rows, uL * uM],
      );
      return tf.matMul(outer, t);
    });
  });
  // Within one layer's block every (row, col) is visited in both orders; across layers, the mirror is written here.
  const mirror = tl !== tm;
  for (let i = 0; i < inL; i++) {
    for (let k = 0; k < inM; k++) {
      const base = (i * inM + k) * uL * uM;
      for (let j = 0; j < uL; j++) {
        const row = indexOf(tl, i, j);
        if (row < 0) continue;
        for (let l = 0; l < uM; l++) {
          const col = indexOf(tm, k, l);
          if (col < 0 || ids[row] !== ids[col]) continue;
          const value = r[base + j * uM + l];
          matrix[row * size + col] += value;
          if (mirror) matrix[col * size + row] += value;
        }
      }
    }
  }
}

/**
 * Adds the bilinear term of Dense layer L (z = a W) against a layer M below it into `matrix` and its mirror:
 *   H[W_L(i,j), θ_M(k,p)] += Σ_n g_{n,j} E_n[i,p] ā_{M,n,k},
 * with g = ∂L/∂z_L and E_n[i,:] = ∂a_{L,n,i}/∂z_{M,n} (M's δ for the unit columns at L's input): one matrix
 * product [in_L·units_M, N]·[N, units_L·(in_M+1)].
 */
function bilinearBlock(
  layer: DenseTerm,
  gradient: tf.Tensor2D,
  tm: DenseTerm,
  matrix: Float32Array,
  size: number,
  ids: Int32Array,
): void {
  const inL = layer.inputs;
  const uL = layer.units;
  const inM = tm.inputs + 1;
  const uM = tm.units;
  const n = gradient.shape[0];
  const r = tf.tidy(() => {
    const aM = tf.concat([tm.input, tf.ones([n, 1])], 1); // [N, in_M+1]
    const columns = tf.transpose(tm.delta, [0, 2, 1]); // [in_L, units_M, N]
    return sumOverExamples(n, Math.max(inL * uM, uL * inM), (start, rows) => {
      const e = tf.reshape(tf.slice(columns, [0, 0, start], [inL, uM, rows]), [inL * uM, rows]);
      const y = tf.reshape(
        tf.mul(
          tf.reshape(tf.slice(gradient, [start, 0], [rows, uL]), [rows, uL, 1]),
          tf.reshape(tf.slice(aM, [start, 0], [rows, inM]), [rows, 1, inM]),
        ),
        [rows, uL * inM],
      );
      return tf.matMul(e, y);
    });
  });
  for (let i = 0; i < inL; i++) {
    for (let p = 0; p < uM; p++) {
      const base = (i * uM + p) * uL * inM;
      for (let j = 0; j < uL; j++) {
        const row = layer.kernel + i * uL + j;
        for (let k = 0; k < inM; k++) {
          const col = indexOf(tm, k, p);
          if (col < 0 || ids[row] !== ids[col]) continue;
          const value = r[base + j * inM + k];
          matrix[row * size + col] += value;
          matrix[col * size + row] += value;
        }
      }
    }
  }
}
