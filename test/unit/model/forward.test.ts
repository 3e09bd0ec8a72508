import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerSecondOrderGradients } from '../../../src/engine/autodiff/register-all.js';
import { applyActivation } from '../../../src/engine/model/activations.js';
import { buildForward } from '../../../src/engine/model/forward.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import type { ModelArtifacts } from '../../../src/contract/types.js';
import { loadWithTfjs, random, toArtifacts, uniform } from './helpers.js';
import { buildCaseArtifacts, MODEL_CASES, type ModelCase } from './model-cases.js';

const BATCH = 3;

function inputFor(c: ModelCase, seed: number): tf.Tensor {
  const rand = random(seed);
  const n = BATCH * c.inputShape.reduce((a, b) => a * b, 1);
  const values = c.vocabulary
    ? Float32Array.from({ length: n }, () => Math.floor(rand() * c.vocabulary!))
    : uniform(rand, n, -3, 3);
  return tf.tensor(values, [BATCH, ...c.inputShape]);
}

/** The engine's forward pass, with the final activation applied so it is comparable to `predict`. */
function engineOutput(artifacts: ModelArtifacts, x: tf.Tensor): Float32Array {
  const model = parseModel(artifacts);
  return tf.tidy(() => {
    const params = Object.fromEntries(model.weights.map((w) => [w.name, tf.tensor(w.values, w.shape)]));
    const { logits, finalActivation } = buildForward(model).forward(params, x);
    return applyActivation(finalActivation, logits).dataSync() as Float32Array;
  });
}

/** ‖a − b‖∞ / max(1, ‖b‖∞). */
function relativeMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

let artifacts: Map<string, ModelArtifacts>;

before(async () => {
  registerSecondOrderGradients();
  await tf.setBackend('cpu');
  artifacts = await buildCaseArtifacts(100);
});

for (const backend of ['cpu', 'wasm']) {
  describe(`forward pass on the ${backend} backend`, () => {
    before(async () => {
      assert.ok(await tf.setBackend(backend));
    });

    for (const [i, c] of MODEL_CASES.entries()) {
      it(`${c.name}: equals TF.js Layers predict`, async () => {
        const a = artifacts.get(c.name)!;
        const reference = await loadWithTfjs(a);
        const x = inputFor(c, 7 + i);
        const expected = tf.tidy(() => (reference.predict(x) as tf.Tensor).dataSync());
        const got = engineOutput(a, x);
        // Same float32 arithmetic in a different order (im2col matMul vs conv kernels, written-out norms):
        // a few ulps of the largest value, far below 1e-5.
        assert.equal(got.length, expected.length);
        const error = relativeMaxError(got, expected);
        assert.ok(error <= 1e-5, `relative max error ${error}`);
        reference.dispose();
        x.dispose();
      });
    }

    it('silu is read as swish', async () => {
      const a = artifacts.get('mlp_swish')!;
      const json = JSON.parse(JSON.stringify(a.modelJson).replaceAll('"swish"', '"silu"'));
      const x = inputFor(MODEL_CASES[0], 1);
      const relabelled = engineOutput({ modelJson: json, weights: a.weights }, x);
      const original = engineOutput(a, x);
      // Identical computation: exact equality.
      assert.deepEqual(relabelled, original);
      x.dispose();
    });

    it('leaves no tensor behind when run under tf.tidy', () => {
      const model = parseModel(artifacts.get('conv2d_same_odd_avgpool_same_maxpool_valid_batchnorm')!);
      const params = Object.fromEntries(model.weights.map((w) => [w.name, tf.tensor(w.values, w.shape)]));
      const x = tf.randomNormal([BATCH, 5, 5, 1]);
      const { forward } = buildForward(model);
      const baseline = tf.memory().numTensors;
      tf.tidy(() => {
        forward(params, x);
      });
      tf.tidy(() => {
        tf.grad((x: tf.Tensor) => tf.sum(forward(params, x).logits))(x);
      });
      assert.equal(tf.memory().numTensors, baseline);
      tf.dispose([x, ...Object.values(params)]);
    });
  });
}

describe('BatchNormalization on a non-last axis', () => {
  it('normalizes along the configured axis with the moving statistics (Keras semantics)', async () => {
    // TF.js's own batchNorm kernel mis-broadcasts [1, C, 1] statistics, so predict is no reference here; the
    // expectation is the Keras formula (x − mean)/sqrt(var + eps)·gamma + beta evaluated in float64.
    await tf.setBackend('cpu');
    const model = tf.sequential();
    model.add(tf.layers.batchNormalization({ inputShape: [3, 2], axis: 1, epsilon: 0.01 }));
    const [gamma, beta, mean, variance] = [
      [1, 2, 3],
      [0.5, -0.5, 0],
      [10, 20, 30],
      [1, 4, 0.25],
    ];
    model.setWeights([gamma, beta, mean, variance].map((v) => tf.tensor(v)));
    const a = await toArtifacts(model);
    const xs = [1, 2, 3, 4, 5, 6];
    const got = engineOutput(a, tf.tensor(xs, [1, 3, 2]));
    xs.forEach((x, i) => {
      const c = Math.floor(i / 2);
      const expected = ((x - mean[c]) / Math.sqrt(variance[c] + 0.01)) * gamma[c] + beta[c];
      // float32 evaluation of an O(100) value: 1e-5 relative.
      assert.ok(Math.abs(got[i] - expected) <= 1e-5 * Math.abs(expected), `${got[i]} vs ${expected}`);
    });
    model.dispose();
  });
});
