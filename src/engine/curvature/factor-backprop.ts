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

export interface FactorBackprop {
  /** diag(G) of the data term over θ (float32, in θ's layout); the caller adds the l2 term. */
  ggnDiagonal(theta: tf.Tensor1D): Float32Array;
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
  const n = x.shape[0];
  const k = outShape[0];
  // Keras reductions: the mean over examples (or sum), and for MSE and BCE the mean over the output's last axis.
  const perExample = loss.reduction === 'sum' ? 1 : 1 / n;
  const scale = kind === 'softmax' ? perExample : perExample / k;
  const offsets = new Map(layout.map((p) => [p.name, p]));

  return {
    ggnDiagonal(theta) {
      const diag = new Float32Array(theta.shape[0]);
      tf.tidy(() => {
        const param = (name: string) => {
          const p = offsets.get(name);
          return p ? tf.reshape(tf.slice(theta, [p.offset], [p.size]), p.shape) : constants[name];
        };
        // Forward, keeping each step's input and pre-activation.
        const saved: { input: tf.Tensor; pre: tf.Tensor }[] = [];
        let a: tf.Tensor = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
        for (const { layer, activation } of chain) {
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
        for (let s = chain.length - 1; s >= 0; s--) {
          const { layer, activation } = chain[s];
          const { input, pre } = saved[s];
          if (activation && activation !== 'linear') {
            const slope = tf.grad((u: tf.Tensor) => tf.sum(applyActivation(activation, u)))(pre);
            delta = tf.mul(delta, slope);
          }
          if (layer.kind !== 'dense') continue;
          const units = layer.units;
          const squared = tf.sum(tf.square(delta), 0); // [N, units]: Σ_c δ²
          const kernel = offsets.get(`${layer.name}/kernel`);
          if (kernel) {
            diag.set(tf.matMul(tf.square(input), squared, true, false).dataSync(), kernel.offset);
          }
          const bias = offsets.get(`${layer.name}/bias`);
          if (bias) diag.set(tf.sum(squared, 0).dataSync(), bias.offset);
          if (s > 0) {
            const w = param(`${layer.name}/kernel`);
            const c = delta.shape[0];
            delta = tf.reshape(tf.matMul(tf.reshape(delta, [c * n, units]), w, false, true), [c, n, -1]);
          }
        }
      });
      return diag;
    },
  };
}
