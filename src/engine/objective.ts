import * as tf from '@tensorflow/tfjs';
import { LOSSES, type FinalActivation } from './losses/index.js';
import { applyActivation } from './model/activations.js';
import { buildForward, type ForwardResult } from './model/forward.js';
import { buildFactorBackprop, type FactorBackprop } from './curvature/factor-backprop.js';
import type { ParsedModel } from '../contract/model/parsed-model.js';
import { sizeOf, toFloat64, type NdArray } from '../contract/ndarray.js';
import type { LossSpec } from '../contract/request-schema.js';
import type { ParamLayout } from '../contract/types.js';
import { arraysFor, type ArrayGroup } from '../contract/data/array-group.js';
import { outputLosses } from '../contract/request.js';

/**
 * The loss as a function of the flat parameter vector θ (the selected trainable weights, row-major, in model
 * weight order), split at the logits for the generalized Gauss–Newton:
 *   L(θ) = ℓ(f(θ, X), T) + l2 · ½‖θ‖².
 * Everything else (inputs, targets, unselected weights) is a constant held by this object until `dispose`.
 */
export interface Objective {
  numParams: number;
  layout: ParamLayout[];
  /** θ₀, the model's current parameters. */
  theta: tf.Tensor1D;
  numExamples: number;
  /** Number of logits per example (product of the output shape without the batch axis). */
  outputsPerExample: number;
  finalActivation: FinalActivation;
  l2: number;
  logits(theta: tf.Tensor): tf.Tensor;
  /** The backpropagated loss-Hessian factor route (exact GGN diagonal in about C gradients), where it applies. */
  factor: FactorBackprop | null;
  /** The data term ℓ(z, T) as a function of the logits z (no L2). */
  lossOfLogits(z: tf.Tensor): tf.Scalar;
  /** ℓ(z, T′) with other targets T′ (one float tensor per output, the targets' shape; one-hot for sparse labels). */
  lossOfLogitsWith(z: tf.Tensor, targets: tf.Tensor[]): tf.Scalar;
  /** Per output: its loss, Keras weight and [N, ...] shape. */
  outputs: { spec: LossSpec; weight: number; shape: number[] }[];
  loss(theta: tf.Tensor): tf.Scalar;
  /**
   * Block evaluation for k points θ₁…θ_k at once (the columns of a [P, k] tensor), or null when the model's forward
   * cannot carry copies (recurrent, ONNX): see ParameterCopies.
   */
  block: BlockObjective | null;
  dispose(): void;
}

/**
 * The objective at k parameter points in one pass: their sum Σᵢ L(θᵢ) has the k gradients as its gradient. The
 * points are given per selected weight (in `layout` order) with the copy axis last, [...shape, k] (see
 * ParameterCopies), so that no op slices a flat θ and the gradients come back per weight.
 */
export interface BlockObjective {
  /** Logits of every copy, copy-major: [k·N, ...] (several outputs side by side, as `logits`). */
  logits(thetas: tf.Tensor[]): tf.Tensor;
  /** Σᵢ ℓ(zᵢ, T) for copy-major logits of k copies. */
  lossOfLogits(z: tf.Tensor, k: number): tf.Scalar;
  /** Σᵢ L(θᵢ). */
  loss(thetas: tf.Tensor[]): tf.Scalar;
  /** Floats of one copy's layer outputs over the batch (what bounds the copies per block). */
  floatsPerCopy: number;
}

/** Targets as a float tensor of the output's shape; sparse labels become one-hot rows. */
function targetTensor(targets: NdArray, outputShape: number[], lossName: LossSpec['name']): tf.Tensor {
  const values = toFloat64(targets);
  if (lossName !== 'sparse_categorical_crossentropy') {
    return tf.tensor(Float32Array.from(values), outputShape, 'float32');
  }
  const classes = outputShape[outputShape.length - 1];
  const oneHot = new Float32Array(sizeOf(outputShape));
  for (let i = 0; i < values.length; i++) oneHot[i * classes + values[i]] = 1;
  return tf.tensor(oneHot, outputShape, 'float32');
}

export function buildObjective(
  model: ParsedModel,
  inputs: ArrayGroup,
  targets: ArrayGroup,
  loss: LossSpec,
  layout: ParamLayout[],
): Objective {
  const { forwardAll, supportsCopies } = buildForward(model);
  const inputArrays = arraysFor(
    inputs,
    model.inputs.map((i) => i.name),
    'inputs',
  ).map((a) => a.array);
  const targetArrays = arraysFor(
    targets,
    model.outputs.map((o) => o.name),
    'targets',
  ).map((a) => a.array);
  const numExamples = inputArrays[0].shape[0];
  const losses = outputLosses(model, loss);
  const shapeOf = (name: string) => model.layers.find((l) => l.name === name)!.outputShape;
  const outputShapes = model.outputs.map((o) => [numExamples, ...shapeOf(o.name)]);
  const sizes = outputShapes.map((shape) => sizeOf(shape.slice(1)));

  const numParams = layout.reduce((n, p) => n + p.size, 0);
  const thetaValues = new Float32Array(numParams);
  const constants: Record<string, tf.Tensor> = {};
  for (const w of model.weights) {
    const entry = layout.find((p) => p.name === w.name);
    if (entry) thetaValues.set(w.values, entry.offset);
    else constants[w.name] = tf.tensor(w.values, w.shape, 'float32');
  }
  const theta = tf.tensor1d(thetaValues);
  const xs = inputArrays.map((a) => tf.tensor(Float32Array.from(toFloat64(a)), a.shape, 'float32'));
  const ts = targetArrays.map((a, k) => targetTensor(a, outputShapes[k], losses[k].spec.name));

  const run = (th: tf.Tensor) => {
    const params: Record<string, tf.Tensor> = { ...constants };
    for (const p of layout) params[p.name] = tf.reshape(tf.slice(th, [p.offset], [p.size]), p.shape);
    return forwardAll(params, xs);
  };
  // Block evaluation: the targets tiled k times (by concat: wasm's Tile is slow), kept per k until dispose. The
  // inputs are not tiled: the forward pass keeps what depends on the inputs alone shared by the copies.
  const tiled = new Map<number, tf.Tensor[]>();
  const tiledTargets = (k: number) => {
    let entry = tiled.get(k);
    if (!entry) {
      entry = ts.map((t) => tf.keep(tf.concat(new Array<tf.Tensor>(k).fill(t), 0)));
      tiled.set(k, entry);
    }
    return entry;
  };
  const copiedNames = new Set(layout.map((p) => p.name));
  const copiesOf = (thetas: tf.Tensor[]) => thetas[0].shape[thetas[0].rank - 1];
  const runBlock = (thetas: tf.Tensor[]) => {
    const k = copiesOf(thetas);
    const params: Record<string, tf.Tensor> = { ...constants };
    layout.forEach((p, i) => (params[p.name] = thetas[i]));
    return forwardAll(params, xs, { count: k, names: copiedNames });
  };
  // The network's final softmax/sigmoid is fused into a matching cross-entropy on probabilities (split at the
  // logits); with any other loss, or fromLogits, it stays in the network (split at the output).
  const networkActivations = tf.tidy(() => run(theta).map((out) => out.finalActivation));
  const activations = networkActivations.map((activation, k): FinalActivation => {
    const spec = losses[k].spec;
    const fused =
      !spec.fromLogits &&
      ((activation === 'softmax' &&
        (spec.name === 'categorical_crossentropy' || spec.name === 'sparse_categorical_crossentropy')) ||
        (activation === 'sigmoid' && spec.name === 'binary_crossentropy'));
    return fused ? activation : 'linear';
  });
  const single = model.outputs.length === 1;
  // Several outputs are split at their logits side by side: z = [z_1 | z_2 | ...], [N, Σ C_k].
  const splitLogits = (results: ForwardResult[], rows: number): tf.Tensor => {
    const outs = results.map((out, k) =>
      activations[k] !== 'linear' ? out.logits : applyActivation(out.finalActivation, out.logits),
    );
    return single
      ? outs[0]
      : tf.concat(
          outs.map((z, k) => tf.reshape(z, [rows, sizes[k]])),
          1,
        );
  };
  const logits = (th: tf.Tensor): tf.Tensor => splitLogits(run(th), numExamples);

  /**
   * ℓ(z, T) for logits of `copies` copies of the batch (targets tiled alike). A mean over the tiled batch is the
   * mean of the copies' losses, so it is scaled by the number of copies to give their sum.
   */
  const lossWith = (z: tf.Tensor, targets: tf.Tensor[], copies: number): tf.Scalar => {
    const rows = numExamples * copies;
    const scaled = (term: tf.Scalar, k: number) => {
      const factor = losses[k].weight * (copies > 1 && losses[k].spec.reduction !== 'sum' ? copies : 1);
      return factor === 1 ? term : (tf.mul(factor, term) as tf.Scalar);
    };
    if (single) return scaled(LOSSES[losses[0].spec.name](z, targets[0], activations[0], losses[0].spec), 0);
    const parts = tf.split(z, sizes, 1);
    return losses
      .map(({ spec }, k) => {
        const shape = [rows, ...outputShapes[k].slice(1)];
        return scaled(LOSSES[spec.name](tf.reshape(parts[k], shape), targets[k], activations[k], spec), k);
      })
      .reduce((sum, term) => tf.add(sum, term)) as tf.Scalar;
  };
  const lossOfLogits = (z: tf.Tensor): tf.Scalar => lossWith(z, ts, 1);
  const withL2 = (data: tf.Scalar, th: tf.Tensor): tf.Scalar =>
    (loss.l2 > 0 ? tf.add(data, tf.mul(0.5 * loss.l2, tf.sum(tf.square(th)))) : data) as tf.Scalar;
  const blockLogits = (thetas: tf.Tensor[]) => splitLogits(runBlock(thetas), numExamples * copiesOf(thetas));
  const blockLossOfLogits = (z: tf.Tensor, k: number) => lossWith(z, tiledTargets(k), k);
  const block: BlockObjective | null = supportsCopies
    ? {
        logits: blockLogits,
        lossOfLogits: blockLossOfLogits,
        loss: (thetas) => {
          const data = blockLossOfLogits(blockLogits(thetas), copiesOf(thetas));
          if (loss.l2 === 0) return data;
          const squares = thetas.map((t) => tf.sum(tf.square(t)));
          return tf.add(data, tf.mul(0.5 * loss.l2, tf.addN(squares))) as tf.Scalar;
        },
        floatsPerCopy:
          numExamples * model.layers.reduce((n, l) => n + sizeOf(l.outputShape.map((d) => d ?? 256)), 0),
      }
    : null;
  const factor =
    single && losses[0].weight === 1
      ? buildFactorBackprop(model, xs[0], ts[0], losses[0].spec, activations[0], layout, constants)
      : null;
  return {
    numParams,
    layout,
    factor,
    theta,
    numExamples,
    outputsPerExample: sizes.reduce((a, b) => a + b, 0),
    finalActivation: single ? activations[0] : 'linear',
    l2: loss.l2,
    logits,
    lossOfLogits,
    lossOfLogitsWith: (z, targets) => lossWith(z, targets, 1),
    outputs: losses.map((l, k) => ({ spec: l.spec, weight: l.weight, shape: outputShapes[k] })),
    loss: (th: tf.Tensor): tf.Scalar => withL2(lossOfLogits(logits(th)), th),
    block,
    dispose: () => {
      factor?.dispose();
      for (const entry of tiled.values()) for (const t of entry) t.dispose();
      for (const c of Object.values(constants)) c.dispose();
      theta.dispose();
      for (const x of xs) x.dispose();
      for (const t of ts) t.dispose();
    },
  };
}
