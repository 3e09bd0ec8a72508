import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerSecondOrderGradients } from '../../../src/engine/autodiff/register-all.js';
import { logSoftmax } from '../../../src/engine/model/activations.js';
import { buildForward } from '../../../src/engine/model/forward.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import type { ModelArtifacts } from '../../../src/contract/types.js';
import { random, uniform } from './helpers.js';
import { buildCaseArtifacts, MODEL_CASES, type ModelCase } from './model-cases.js';

/**
 * Sanity checks of second derivatives through every layer and activation: the nested-`tf.grad` Hessian-vector
 * product of a loss of the network against central differences of its gradient. (Exact float64 accuracy is the
 * golden tests' job.)
 */
const BATCH = 3;

interface Setup {
  theta: tf.Tensor1D;
  v: tf.Tensor1D;
  gradient: (theta: tf.Tensor) => tf.Tensor;
  dispose: () => void;
}

function setup(artifacts: ModelArtifacts, c: ModelCase, seed: number): Setup {
  const model = parseModel(artifacts);
  const { forward } = buildForward(model);
  const rand = random(seed);
  const inputSize = BATCH * c.inputShape.reduce((a, b) => a * b, 1);
  const x = c.vocabulary
    ? tf.tensor(
        Float32Array.from({ length: inputSize }, () => Math.floor(rand() * c.vocabulary!)),
        [BATCH, ...c.inputShape],
      )
    : tf.tensor(uniform(rand, inputSize, -2, 2), [BATCH, ...c.inputShape]);
  const outputs = BATCH * (model.outputs[0].shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
  const numParams = model.parameters.reduce((n, p) => n + p.size, 0);
  const thetaValues = new Float32Array(numParams);
  const constants: Record<string, tf.Tensor> = {};
  for (const w of model.weights) {
    const p = model.parameters.find((q) => q.name === w.name);
    if (p) thetaValues.set(w.values, p.offset);
    else constants[w.name] = tf.tensor(w.values, w.shape);
  }
  const targets = uniform(rand, outputs, 0, 1);

  /** A smooth loss of the output, fused with the final softmax/sigmoid as the engine's losses are. */
  const loss = (theta: tf.Tensor): tf.Scalar => {
    const params = { ...constants };
    for (const p of model.parameters)
      params[p.name] = tf.reshape(tf.slice(theta, [p.offset], [p.size]), p.shape);
    const { logits, finalActivation } = forward(params, x);
    const t = tf.tensor(targets, logits.shape);
    if (finalActivation === 'softmax') {
      const probabilities = tf.div(t, tf.sum(t, -1, true));
      return tf.neg(tf.mean(tf.sum(tf.mul(probabilities, logSoftmax(logits)), -1))) as tf.Scalar;
    }
    if (finalActivation === 'sigmoid') return tf.mean(tf.sub(tf.softplus(logits), tf.mul(t, logits)));
    return tf.mean(tf.square(tf.sub(logits, t)));
  };
  const direction = uniform(rand, numParams, -1, 1);
  const norm = Math.hypot(...direction);
  return {
    theta: tf.tensor1d(thetaValues),
    v: tf.tensor1d(direction.map((d) => d / norm)),
    gradient: tf.grad(loss),
    dispose: () => tf.dispose([x, ...Object.values(constants)]),
  };
}

function relativeError(a: Float32Array, b: Float32Array): { error: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    scale += b[i] ** 2;
  }
  return { error: Math.sqrt(diff / scale), scale: Math.sqrt(scale) };
}

let artifacts: Map<string, ModelArtifacts>;

before(async () => {
  registerSecondOrderGradients();
  await tf.setBackend('cpu');
  artifacts = await buildCaseArtifacts(300);
});

for (const backend of ['cpu', 'wasm']) {
  describe(`second derivatives on the ${backend} backend`, () => {
    before(async () => {
      assert.ok(await tf.setBackend(backend));
    });

    for (const [i, c] of MODEL_CASES.entries()) {
      it(`${c.name}: nested tf.grad H·v matches central differences of the gradient`, () => {
        const baseline = tf.memory().numTensors;
        const { theta, v, gradient, dispose } = setup(artifacts.get(c.name)!, c, 31 + i);
        // Step: 1e-2 on smooth models (truncation O(ε²) ≈ 1e-4, float32 noise ≈ 1e-7/ε); 1e-3 where a larger
        // step could cross a relu kink or switch a max-pooling winner.
        const step = Number(process.env.STEP ?? 0) || (c.kinked ? 1e-3 : 1e-2);
        const [hv, fd] = tf.tidy(() => {
          const hvp = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gradient(t), v)))(theta);
          const plus = gradient(tf.add(theta, tf.mul(v, step)));
          const minus = gradient(tf.sub(theta, tf.mul(v, step)));
          const central = tf.div(tf.sub(plus, minus), 2 * step);
          return [hvp.dataSync() as Float32Array, central.dataSync() as Float32Array];
        });
        const { error, scale } = relativeError(hv, fd);
        assert.ok(scale > 1e-3, `the curvature along v is too small to test (${scale})`);
        // Sanity tolerance: 1e-2 relative (float32 gradients differenced at the steps above); a wrong second-order
        // gradient (TF.js's own tanh/sigmoid/softmax) is off by 1e-2 to 1.
        assert.ok(error <= 1e-2, `‖H·v − FD‖/‖FD‖ = ${error}`);
        tf.dispose([theta, v]);
        dispose();
        assert.equal(tf.memory().numTensors, baseline, 'tensors left behind');
      });
    }
  });
}
