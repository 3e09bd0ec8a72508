/**
 * Why the engine exists (not a test): Hessian-vector products from plain nested `tf.grad` over TF.js's own ops
 * (tf.tanh, tf.sigmoid, tf.elu, ..., tf.losses.softmaxCrossEntropy / meanSquaredError) against the committed
 * float64 references, on the golden 2-layer MLPs. Run in its own process, without the engine's gradient
 * registrations: `node --import tsx bench/tfjs-nested-grad.ts`. Figures are recorded in docs/engine.md.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../src/engine/estimators/rng.js';
import { loadGoldenCase, matvec, relativeError } from '../test/helpers/golden.js';
import type { NdArray } from '../src/contract/ndarray.js';

tf.env().set('PROD', true);
await tf.setBackend('cpu');

const ACTIVATIONS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  tanh: tf.tanh,
  sigmoid: tf.sigmoid,
  relu: tf.relu,
  softplus: tf.softplus,
  elu: tf.elu,
};

/** L(θ) for Dense(act) → Dense(linear or softmax) built from TF.js's own ops, θ = [W1, b1, W2, b2] flattened. */
function plainLoss(name: string, activation: string, loss: 'mse' | 'cce') {
  const c = loadGoldenCase(name);
  const weights = (c.request.model.modelJson as any).weightsManifest[0].weights as { shape: number[] }[];
  const [inputs, targets] = [c.request.inputs, c.request.targets] as NdArray[];
  const x = tf.tensor(Float32Array.from(inputs.data as Float32Array), inputs.shape);
  const t = tf.tensor(Float32Array.from(targets.data as Float32Array), targets.shape);
  const f = (theta: tf.Tensor) => {
    let offset = 0;
    const [w1, b1, w2, b2] = weights.map(({ shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const part = tf.reshape(tf.slice(theta, [offset], [size]), shape);
      offset += size;
      return part;
    });
    const hidden = ACTIVATIONS[activation](tf.add(tf.matMul(x, w1), b1));
    const out = tf.add(tf.matMul(hidden, w2), b2);
    return (
      loss === 'mse' ? tf.losses.meanSquaredError(t, out) : tf.losses.softmaxCrossEntropy(t, out)
    ) as tf.Scalar;
  };
  return { c, f };
}

console.log('| hidden activation | loss | relative error of H·v (nested tf.grad) |');
console.log('|---|---|---|');
for (const [name, activation, loss] of [
  ['mlp_tanh_mse', 'tanh', 'mse'],
  ['mlp_tanh_cce_fused', 'tanh', 'cce'],
  ['mlp_sigmoid_mse', 'sigmoid', 'mse'],
  ['mlp_sigmoid_cce_fused', 'sigmoid', 'cce'],
  ['mlp_relu_mse', 'relu', 'mse'],
  ['mlp_relu_cce_fused', 'relu', 'cce'],
  ['mlp_softplus_mse', 'softplus', 'mse'],
  ['mlp_softplus_cce_fused', 'softplus', 'cce'],
  ['mlp_elu_mse', 'elu', 'mse'],
] as const) {
  const { c, f } = plainLoss(name, activation, loss);
  const v = createRng(0).gaussianVector(c.numParams);
  let outcome: string;
  try {
    const hv = tf.tidy(() => {
      const flat = tf.concat(
        [...c.request.model.weights.values()].map((bytes) =>
          tf.tensor1d(new Float32Array(bytes.slice().buffer)),
        ),
      );
      const direction = tf.tensor1d(Float32Array.from(v));
      return tf.grad((th: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(th), direction)) as tf.Scalar)(flat);
    });
    outcome = relativeError(hv.dataSync(), matvec(c.hessian, v)).toExponential(1);
  } catch (e) {
    outcome = `throws: ${(e as Error).message.split('\n')[0].slice(0, 60)}`;
  }
  console.log(`| ${activation} | ${loss === 'mse' ? 'MSE' : 'softmax cross-entropy'} | ${outcome} |`);
}
