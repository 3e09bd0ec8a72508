/**
 * The second-order-safe gradient registrations, op by op, against analytic second derivatives (float64 here):
 * for f(x) = Σ g(xᵢ)·wᵢ the Hessian is diagonal with entries g''(xᵢ)·wᵢ. TF.js's own definitions are off by 10–98%
 * for tanh, sigmoid and exp and throw for elu; float32 evaluation allows 1e-5 relative error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/engine/backend.js';
import { take } from '../../../src/engine/autodiff/take.js';

const X = [-1.3, -0.4, 0.2, 0.9, 1.7];
const W = [0.5, -1.2, 2.0, 0.7, -0.3];
const sig = (x: number) => 1 / (1 + Math.exp(-x));

const CASES: [string, (x: tf.Tensor) => tf.Tensor, (x: number) => number][] = [
  ['tanh', tf.tanh, (x) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2)],
  ['sigmoid', tf.sigmoid, (x) => sig(x) * (1 - sig(x)) * (1 - 2 * sig(x))],
  ['exp', tf.exp, (x) => Math.exp(x)],
  ['elu', tf.elu, (x) => (x > 0 ? 0 : Math.exp(x))],
  ['softplus', tf.softplus, (x) => sig(x) * (1 - sig(x))],
  [
    'square of take (gather/scatter)',
    (x) => tf.square(take(x, Int32Array.from([0, 1, 2, 3, 4]), [5])),
    () => 2,
  ],
];

function hessianDiagonal(g: (x: tf.Tensor) => tf.Tensor): number[] {
  return X.map((_, i) =>
    tf.tidy(() => {
      const f = (x: tf.Tensor) => tf.sum(tf.mul(g(x), tf.tensor1d(W))) as tf.Scalar;
      const e = tf.tensor1d(X.map((_, j) => (i === j ? 1 : 0)));
      const hv = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(y), e)) as tf.Scalar)(tf.tensor1d(X));
      return hv.dataSync()[i];
    }),
  );
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`second derivatives of single ops on the ${backend} backend`, () => {
    for (const [name, g, second] of CASES) {
      it(`${name}: nested tf.grad equals the analytic second derivative`, async () => {
        await initBackend(backend);
        const before = tf.memory().numTensors;
        const got = hessianDiagonal(g);
        assert.equal(tf.memory().numTensors, before);
        X.forEach((x, i) => {
          const want = second(x) * W[i];
          assert.ok(
            Math.abs(got[i] - want) <= 1e-5 * Math.max(1, Math.abs(want)),
            `${name}''(${x}): ${got[i]} vs ${want}`,
          );
        });
      });
    }
  });
}
