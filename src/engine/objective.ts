import * as tf from '@tensorflow/tfjs';
import { LOSSES, type FinalActivation } from './losses/index.js';
import { applyActivation } from './model/activations.js';
import { buildForward } from './model/forward.js';
import type { ParsedModel } from '../contract/model/parsed-model.js';
import { sizeOf, toFloat64, type NdArray } from '../contract/ndarray.js';
import type { LossSpec } from '../contract/request-schema.js';
import type { ParamLayout } from '../contract/types.js';

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
  /** The data term ℓ(z, T) as a function of the logits z (no L2). */
  lossOfLogits(z: tf.Tensor): tf.Scalar;
  loss(theta: tf.Tensor): tf.Scalar;
  dispose(): void;
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
  inputs: NdArray,
  targets: NdArray,
  loss: LossSpec,
  layout: ParamLayout[],
): Objective {
  const { forward } = buildForward(model);
  const numExamples = inputs.shape[0];
  const outputShape = [numExamples, ...model.outputShape.slice(1).map((d) => d ?? 1)];
  const lossFunction = LOSSES[loss.name];

  const numParams = layout.reduce((n, p) => n + p.size, 0);
  const thetaValues = new Float32Array(numParams);
  const constants: Record<string, tf.Tensor> = {};
  for (const w of model.weights) {
    const entry = layout.find((p) => p.name === w.name);
    if (entry) thetaValues.set(w.values, entry.offset);
    else constants[w.name] = tf.tensor(w.values, w.shape, 'float32');
  }
  const theta = tf.tensor1d(thetaValues);
  const x = tf.tensor(Float32Array.from(toFloat64(inputs)), inputs.shape, 'float32');
  const t = targetTensor(targets, outputShape, loss.name);

  const run = (th: tf.Tensor) => {
    const params: Record<string, tf.Tensor> = { ...constants };
    for (const p of layout) params[p.name] = tf.reshape(tf.slice(th, [p.offset], [p.size]), p.shape);
    return forward(params, x);
  };
  // The network's final softmax/sigmoid is fused into a matching cross-entropy on probabilities (split at the
  // logits); with any other loss, or fromLogits, it stays in the network (split at the output).
  const networkActivation = tf.tidy(() => run(theta).finalActivation);
  const fused =
    !loss.fromLogits &&
    ((networkActivation === 'softmax' &&
      (loss.name === 'categorical_crossentropy' || loss.name === 'sparse_categorical_crossentropy')) ||
      (networkActivation === 'sigmoid' && loss.name === 'binary_crossentropy'));
  const finalActivation: FinalActivation = fused ? networkActivation : 'linear';
  const logits = (th: tf.Tensor): tf.Tensor => {
    const out = run(th);
    return fused ? out.logits : applyActivation(out.finalActivation, out.logits);
  };

  const lossOfLogits = (z: tf.Tensor): tf.Scalar => lossFunction(z, t, finalActivation, loss);
  return {
    numParams,
    layout,
    theta,
    numExamples,
    outputsPerExample: sizeOf(outputShape.slice(1)),
    finalActivation,
    l2: loss.l2,
    logits,
    lossOfLogits,
    loss: (th: tf.Tensor): tf.Scalar => {
      const data = lossOfLogits(logits(th));
      return (loss.l2 > 0 ? tf.add(data, tf.mul(0.5 * loss.l2, tf.sum(tf.square(th)))) : data) as tf.Scalar;
    },
    dispose: () => {
      for (const c of Object.values(constants)) c.dispose();
      theta.dispose();
      x.dispose();
      t.dispose();
    },
  };
}
