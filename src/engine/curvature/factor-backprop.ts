/**
 * The exact GGN diagonal by backpropagating a symmetric factor of the loss Hessian (BackPACK's DiagGGN): with
 * S_n S_nᵀ = ∂²ℓ/∂z_n² at the split point z (closed forms below), diag(G) = Σ_n Σ_c (J_nᵀ s_{n,c})², and for a Dense
 * layer z = a W + b the per-example product J_nᵀ s splits as a_n ⊗ δ_{n,c}, where δ is s backpropagated to the layer's
 * output. All C columns of every example go back together as one [C·N, units] matrix per layer, so the cost is about C
 * gradients instead of P products.
 *
 * Covered (else `null`, and the caller takes the general route): single-input, single-output chains of Dense,
 * elementwise activations (as Activation layers or a Dense's own) and inference no-ops, with rank-2 outputs, for
 * softmax cross-entropy (fused or from logits), sigmoid binary cross-entropy (fused or from logits) and mean squared
 * error on a linear output. Other layer kinds and losses are issue 10's next steps.
 */
import * as tf from '@tensorflow/tfjs';
import type { ActivationName } from '../../contract/model/activation-names.js';
import type { LayerSpec, ParsedModel } from '../../contract/model/parsed-model.js';
import type { LossSpec } from '../../contract/request-schema.js';
import type { ParamLayout } from '../../contract/types.js';
import { applyActivation } from '../model/activations.js';

type Factor = 'softmax' | 'sigmoid' | 'identity';

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

/** A Dense layer's share of the backpropagated factor: its input a and the factor columns δ at its output. */
interface DenseTerm {
  /** Offsets of its kernel ([in, units] row-major) and bias in θ, −1 when not selected. */
  kernel: number;
  bias: number;
  inputs: number;
  units: number;
  /** [N, in] */
  input: tf.Tensor2D;
  /** [C, N, units]: Σ_c δ[c,n] δ[c,n]ᵀ = J_nᵀ ∂²ℓ/∂z_n² J_n at the layer's output */
  delta: tf.Tensor3D;
}

/** Floats per intermediate of the dense GGN's Khatri–Rao products (chunks of examples keep them under 64 MiB). */
const DENSE_CHUNK_FLOATS = 16 * 2 ** 20;

export interface FactorBackprop {
  /** diag(G) of the data term over θ (float32, in θ's layout); the caller adds the l2 term. */
  ggnDiagonal(theta: tf.Tensor1D): Float32Array;
  /** Layer pairs `ggnDense` computes (one progress unit each): all pairs for a full matrix, else the diagonal ones. */
  densePairs(full: boolean): number;
  /**
   * The dense GGN of the data term (row-major P×P float32, symmetric by construction) with the entries whose block
   * ids differ left at 0 and, when `full` is false, the blocks between different layers not computed; the caller adds
   * the l2 term. `unit` is awaited after each layer pair.
   */
  ggnDense(
    theta: tf.Tensor1D,
    ids: Int32Array,
    full: boolean,
    unit: () => Promise<void>,
  ): Promise<Float32Array>;
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
  const selectedLayers = chain.filter(
    ({ layer }) =>
      layer.kind === 'dense' && (offsets.has(`${layer.name}/kernel`) || offsets.has(`${layer.name}/bias`)),
  ).length;

  /** Every Dense layer's input and factor columns, last layer first (tensors the caller disposes). */
  function backward(theta: tf.Tensor1D): DenseTerm[] {
    const terms: DenseTerm[] = [];
    tf.tidy(() => {
      const param = (name: string) => {
        const p = offsets.get(name);
        return p ? tf.reshape(tf.slice(theta, [p.offset], [p.size]), p.shape) : constants[name];
      };
      // Forward, keeping each step's input and pre-activation.
      const saved: { input: tf.Tensor; pre: tf.Tensor }[] = [];
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
      const z = a; // [N, K] at the split point
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
      } else if (kind === 'sigmoid') {
        const p = tf.sigmoid(z);
        const root = tf.sqrt(tf.mul(scale, tf.mul(p, tf.sub(1, p))));
        delta = tf.mul(tf.reshape(tf.transpose(root), [k, n, 1]), eye);
      } else {
        delta = tf.mul(Math.sqrt(2 * scale), tf.tile(eye, [1, n, 1]));
      }
      // The sigmoid and MSE factors need no targets: those losses' curvature at z does not depend on them.
      for (let s = steps.length - 1; s >= 0; s--) {
        const { layer, activation } = steps[s];
        const { input, pre } = saved[s];
        if (activation && activation !== 'linear') {
          const slope = tf.grad((u: tf.Tensor) => tf.sum(applyActivation(activation, u)))(pre);
          delta = tf.mul(delta, slope);
        }
        if (layer.kind !== 'dense') continue;
        const units = layer.units;
        terms.push({
          kernel: offsets.get(`${layer.name}/kernel`)?.offset ?? -1,
          bias: offsets.get(`${layer.name}/bias`)?.offset ?? -1,
          inputs: input.shape[1]!,
          units,
          input: tf.keep(input as tf.Tensor2D),
          delta: tf.keep(delta as tf.Tensor3D),
        });
        if (s > 0) {
          const w = param(`${layer.name}/kernel`);
          const c = delta.shape[0];
          delta = tf.reshape(tf.matMul(tf.reshape(delta, [c * n, units]), w, false, true), [c, n, -1]);
        }
      }
    });
    return terms;
  }

  // The first layer's input may be the objective's own x, which stays.
  const dispose = (terms: DenseTerm[]) =>
    terms.forEach((t) => tf.dispose(t.input === x ? t.delta : [t.input, t.delta]));

  return {
    ggnDiagonal(theta) {
      const diag = new Float32Array(theta.shape[0]);
      const terms = backward(theta);
      try {
        tf.tidy(() => {
          for (const t of terms) {
            const squared = tf.sum(tf.square(t.delta), 0); // [N, units]: Σ_c δ²
            if (t.kernel >= 0) {
              diag.set(tf.matMul(tf.square(t.input), squared, true, false).dataSync(), t.kernel);
            }
            if (t.bias >= 0) diag.set(tf.sum(squared, 0).dataSync(), t.bias);
          }
        });
      } finally {
        dispose(terms);
      }
      return diag;
    },

    densePairs(full) {
      return full ? (selectedLayers * (selectedLayers + 1)) / 2 : selectedLayers;
    },

    async ggnDense(theta, ids, full, unit) {
      const size = theta.shape[0];
      const matrix = new Float32Array(size * size);
      const all = backward(theta);
      const unselected = all.filter((t) => t.kernel < 0 && t.bias < 0);
      dispose(unselected);
      const terms = all.filter((t) => !unselected.includes(t));
      try {
        for (let l = 0; l < terms.length; l++) {
          for (let m = l; m < (full ? terms.length : l + 1); m++) {
            denseBlock(terms[l], terms[m], matrix, size, ids);
            await unit();
          }
        }
      } finally {
        dispose(terms);
      }
      return matrix;
    },
  };
}

/**
 * The GGN block between Dense layers L and M, written into `matrix` (and mirrored). With the bias as an input
 * column of ones (ā = [a, 1]), the per-example product J_nᵀ s is ā_n ⊗ δ_{n,c}, so
 *   G[(i,j),(k,l)] = Σ_n ā_{L,n,i} ā_{M,n,k} T_n[j,l],  T_n = Σ_c δ_{L,c,n} δ_{M,c,n}ᵀ,
 * one matrix product [(in_L+1)(in_M+1), N]·[N, units_L·units_M]: 2·N·P_L·P_M flops instead of the
 * 2·C·N·P_L·P_M of MᵀM with M the C·N per-example rows (BackPACK's sqrt-GGN), C times fewer.
 */
function denseBlock(tl: DenseTerm, tm: DenseTerm, matrix: Float32Array, size: number, ids: Int32Array): void {
  const inL = tl.inputs + 1;
  const inM = tm.inputs + 1;
  const uL = tl.units;
  const uM = tm.units;
  const [c, n] = tl.delta.shape;
  const chunk = Math.max(1, Math.floor(DENSE_CHUNK_FLOATS / Math.max(inL * inM, c * uL * uM)));
  const products = tf.tidy(() => {
    const augmented = (t: DenseTerm) => tf.transpose(tf.concat([t.input, tf.ones([n, 1])], 1)); // [in+1, N]
    const aL = augmented(tl);
    const aM = tl === tm ? aL : augmented(tm);
    let sum: tf.Tensor | null = null;
    for (let start = 0; start < n; start += chunk) {
      const rows = Math.min(chunk, n - start);
      const outer = tf.reshape(
        tf.mul(
          tf.reshape(tf.slice(aL, [0, start], [inL, rows]), [inL, 1, rows]),
          tf.reshape(tf.slice(aM, [0, start], [inM, rows]), [1, inM, rows]),
        ),
        [inL * inM, rows],
      );
      const dL = tf.slice(tl.delta, [0, start, 0], [c, rows, uL]);
      const dM = tf.slice(tm.delta, [0, start, 0], [c, rows, uM]);
      const t = tf.reshape(
        tf.sum(tf.mul(tf.reshape(dL, [c, rows, uL, 1]), tf.reshape(dM, [c, rows, 1, uM])), 0),
        [rows, uL * uM],
      );
      const part = tf.matMul(outer, t);
      sum = sum ? tf.add(sum, part) : part;
    }
    return sum!;
  });
  const r = products.dataSync() as Float32Array;
  products.dispose();
  const index = (t: DenseTerm, i: number, j: number) =>
    i < t.inputs ? (t.kernel < 0 ? -1 : t.kernel + i * t.units + j) : t.bias < 0 ? -1 : t.bias + j;
  for (let i = 0; i < inL; i++) {
    for (let k = 0; k < inM; k++) {
      const base = (i * inM + k) * uL * uM;
      for (let j = 0; j < uL; j++) {
        const row = index(tl, i, j);
        if (row < 0) continue;
        for (let l = 0; l < uM; l++) {
          const col = index(tm, k, l);
          if (col < 0 || ids[row] !== ids[col]) continue;
          const value = r[base + j * uM + l];
          matrix[row * size + col] = value;
          matrix[col * size + row] = value;
        }
      }
    }
  }
}
