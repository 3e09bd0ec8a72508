/**
 * Exact Hessians of models linear in θ against their closed forms, computed here in float64 from the same
 * float32 weights and data. For these models the GGN equals the Hessian. Float32 tolerance: 1e-5 relative
 * Frobenius error (a handful of float32 roundings per entry).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import type { NdArray } from '../../../src/contract/ndarray.js';
import type { ModelArtifacts } from '../../../src/contract/types.js';
import { relativeError } from '../../helpers/golden.js';
import { random, randomizeWeights, toArtifacts, uniform } from '../model/helpers.js';

const TOLERANCE = 1e-5;
const N = 7;
const D = 3;

async function denseModel(units: number, activation: 'linear' | 'sigmoid' | 'softmax') {
  const model = tf.sequential({ layers: [tf.layers.dense({ units, activation, inputShape: [D] })] });
  randomizeWeights(model, 11);
  const [kernel, bias] = model.getWeights().map((w) => Float64Array.from(w.dataSync()));
  const artifacts: ModelArtifacts = await toArtifacts(model);
  model.dispose();
  return { artifacts, kernel, bias };
}

const f32 = (shape: number[], data: Float32Array): NdArray => ({ dtype: 'float32', shape, data });

/** θ = (W row-major [D, K], b [K]): entry (d, k) of x̃ = [x, 1] sits at d·K + k, the bias at D·K + k. */
function index(d: number, k: number, K: number): number {
  return d < D ? d * K + k : D * K + k;
}

function xTilde(x: Float32Array, n: number, d: number): number {
  return d < D ? x[n * D + d] : 1;
}

function logits(x: Float32Array, n: number, kernel: Float64Array, bias: Float64Array, K: number): number[] {
  return Array.from({ length: K }, (_, k) => {
    let z = bias[k];
    for (let d = 0; d < D; d++) z += x[n * D + d] * kernel[d * K + k];
    return z;
  });
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`closed forms on the ${backend} backend`, () => {
    it('linear regression with MSE: H = 2/(N·K) · X̃ᵀX̃ per output, and GGN = H', async () => {
      await initBackend(backend);
      const K = 2;
      const { artifacts } = await denseModel(K, 'linear');
      const x = uniform(random(1), N * D);
      const t = uniform(random(2), N * K);
      const P = (D + 1) * K;
      const expected = new Float64Array(P * P);
      for (let k = 0; k < K; k++) {
        for (let a = 0; a <= D; a++) {
          for (let b = 0; b <= D; b++) {
            let s = 0;
            for (let n = 0; n < N; n++) s += xTilde(x, n, a) * xTilde(x, n, b);
            expected[index(a, k, K) * P + index(b, k, K)] = (2 / (N * K)) * s;
          }
        }
      }
      const request = {
        model: artifacts,
        inputs: f32([N, D], x),
        targets: f32([N, K], t),
        loss: { name: 'mean_squared_error' as const },
      };
      const h = await compute({ ...request, method: { name: 'hessian' } });
      assert.ok(relativeError(h.arrays['hessian.npy'].data, expected) <= TOLERANCE);
      const g = await compute({ ...request, method: { name: 'ggn' } });
      assert.ok(relativeError(g.arrays['ggn.npy'].data, expected) <= TOLERANCE);
    });

    it('logistic regression with binary cross-entropy: H = X̃ᵀ diag(p(1 − p)) X̃ / N, and GGN = H', async () => {
      await initBackend(backend);
      const { artifacts, kernel, bias } = await denseModel(1, 'sigmoid');
      const x = uniform(random(3), N * D);
      const t = Float32Array.from({ length: N }, (_, n) => n % 2);
      const P = D + 1;
      const expected = new Float64Array(P * P);
      for (let n = 0; n < N; n++) {
        const p = 1 / (1 + Math.exp(-logits(x, n, kernel, bias, 1)[0]));
        for (let a = 0; a <= D; a++) {
          for (let b = 0; b <= D; b++) {
            expected[index(a, 0, 1) * P + index(b, 0, 1)] +=
              (p * (1 - p) * xTilde(x, n, a) * xTilde(x, n, b)) / N;
          }
        }
      }
      const request = {
        model: artifacts,
        inputs: f32([N, D], x),
        targets: f32([N, 1], t),
        loss: { name: 'binary_crossentropy' as const },
      };
      const h = await compute({ ...request, method: { name: 'hessian' } });
      assert.ok(relativeError(h.arrays['hessian.npy'].data, expected) <= TOLERANCE);
      const g = await compute({ ...request, method: { name: 'ggn' } });
      assert.ok(relativeError(g.arrays['ggn.npy'].data, expected) <= TOLERANCE);
    });

    it('softmax regression with sparse cross-entropy: H = Σₙ (diag pₙ − pₙpₙᵀ) ⊗ x̃ₙx̃ₙᵀ / N, and GGN = H', async () => {
      await initBackend(backend);
      const C = 3;
      const { artifacts, kernel, bias } = await denseModel(C, 'softmax');
      const x = uniform(random(4), N * D);
      const labels = Int32Array.from({ length: N }, (_, n) => n % C);
      const P = (D + 1) * C;
      const expected = new Float64Array(P * P);
      for (let n = 0; n < N; n++) {
        const z = logits(x, n, kernel, bias, C);
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const sum = e.reduce((s, v) => s + v, 0);
        const p = e.map((v) => v / sum);
        for (let a = 0; a <= D; a++) {
          for (let b = 0; b <= D; b++) {
            for (let c = 0; c < C; c++) {
              for (let c2 = 0; c2 < C; c2++) {
                const s = (c === c2 ? p[c] : 0) - p[c] * p[c2];
                expected[index(a, c, C) * P + index(b, c2, C)] += (s * xTilde(x, n, a) * xTilde(x, n, b)) / N;
              }
            }
          }
        }
      }
      const request = {
        model: artifacts,
        inputs: f32([N, D], x),
        targets: { dtype: 'int32' as const, shape: [N], data: labels },
        loss: { name: 'sparse_categorical_crossentropy' as const },
      };
      const h = await compute({ ...request, method: { name: 'hessian' } });
      assert.ok(relativeError(h.arrays['hessian.npy'].data, expected) <= TOLERANCE);
      const g = await compute({ ...request, method: { name: 'ggn' } });
      assert.ok(relativeError(g.arrays['ggn.npy'].data, expected) <= TOLERANCE);
    });
  });
}
