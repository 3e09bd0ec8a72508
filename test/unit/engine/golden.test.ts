/**
 * The engine against independent float64 references (PyTorch, committed as data), on every golden case and on
 * both the cpu and wasm backends. TF.js computes in float32, so dense results are held to a relative Frobenius
 * error of 1e-4 (float32 rounding through a few layers is ~1e-6; a wrong second derivative is ≥ 1e-2).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { compute } from '../../../src/engine/compute.js';
import { initBackend } from '../../../src/engine/backend.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { goldenCaseNames, loadGoldenCase, matvec, relativeError } from '../../helpers/golden.js';

const DENSE_TOLERANCE = 1e-4;
/** The acceptance set: dense and convolutional models, the activations TF.js gets wrong, max pooling, each loss. */
const ACCEPTANCE = [
  'mlp_tanh_cce_fused',
  'mlp_sigmoid_cce_fused',
  'mlp_elu_mse',
  'mlp_softplus_cce_fused',
  'mlp_swish_cce_fused',
  'mlp_relu_cce_fused',
  'mlp_tanh_huber',
  'mlp_tanh_bce_fused',
  'mlp_tanh_scce_fused',
  'cnn_conv2d_relu_maxpool_cce',
  'cnn_two_conv_maxpool',
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`golden references on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });
    after(() => {});

    for (const name of goldenCaseNames()) {
      it(`${name}: hessian, ggn, hvp${backend === 'cpu' ? ' and diagonal' : ''} match float64 to 1e-4`, async () => {
        const c = loadGoldenCase(name);
        const tensorsBefore = tf.memory().numTensors;
        const h = await compute({ ...c.request, method: { name: 'hessian' } }, { backend });
        assert.equal(h.numParams, c.numParams);
        assert.equal(h.backend, backend);
        const hErr = relativeError(h.arrays['hessian.npy'].data, c.hessian);
        assert.ok(hErr <= DENSE_TOLERANCE, `hessian relative error ${hErr.toExponential(2)}`);
        assert.ok(h.verification.passed, JSON.stringify(h.verification));

        const g = await compute({ ...c.request, method: { name: 'ggn' } }, { backend });
        const gErr = relativeError(g.arrays['ggn.npy'].data, c.ggn);
        assert.ok(gErr <= DENSE_TOLERANCE, `ggn relative error ${gErr.toExponential(2)}`);

        const rng = createRng(7);
        const vectors = [rng.gaussianVector(c.numParams), rng.gaussianVector(c.numParams)];
        const hv = await compute(
          { ...c.request, method: { name: 'hvp', vectors: vectors.map((v) => Array.from(v)) } },
          { backend },
        );
        vectors.forEach((v, i) => {
          const got = hv.arrays['hvp.npy'].data.subarray(i * c.numParams, (i + 1) * c.numParams);
          const err = relativeError(got, matvec(c.hessian, v));
          assert.ok(err <= DENSE_TOLERANCE, `hvp[${i}] relative error ${err.toExponential(2)}`);
        });

        if (backend === 'cpu') {
          // The exact diagonal of every case, once: the wasm backend already computes the same products above.
          const d = await compute({ ...c.request, method: { name: 'diagonal' } }, { backend });
          const expected = Float64Array.from(
            { length: c.numParams },
            (_, i) => c.hessian[i * c.numParams + i],
          );
          const dErr = relativeError(d.arrays['diagonal.npy'].data, expected);
          assert.ok(dErr <= DENSE_TOLERANCE, `diagonal relative error ${dErr.toExponential(2)}`);
        }
        assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
      });
    }

    for (const name of ACCEPTANCE) {
      it(`${name}: diagonal to 1e-4, top-3 eigenvalues to 1e-3 of the spectral radius, finite differences to 2e-2`, async () => {
        const c = loadGoldenCase(name);
        const n = c.numParams;
        const d = await compute({ ...c.request, method: { name: 'diagonal' } }, { backend });
        const refDiag = Float64Array.from({ length: n }, (_, i) => c.hessian[i * n + i]);
        const dErr = relativeError(d.arrays['diagonal.npy'].data, refDiag);
        assert.ok(dErr <= DENSE_TOLERANCE, `diagonal relative error ${dErr.toExponential(2)}`);

        const e = await compute({ ...c.request, method: { name: 'eigen', k: 3 } }, { backend });
        const radius = Math.max(Math.abs(c.eigenvalues[0]), Math.abs(c.eigenvalues[n - 1]));
        const top = Array.from(c.eigenvalues).slice(-3).reverse();
        const got = e.summary.eigenvalues as number[];
        top.forEach((lambda, i) => {
          // Lanczos in float64 on float32 products: 1e-3 of the spectral radius.
          assert.ok(
            Math.abs(got[i] - lambda) <= 1e-3 * radius,
            `λ${i}: ${got[i]} vs ${lambda} (ρ = ${radius})`,
          );
        });

        const fd = await compute({ ...c.request, method: { name: 'finite_difference' } }, { backend });
        const fdErr = relativeError(fd.arrays['hessian.npy'].data, c.hessian);
        // Float32 central differences with Richardson extrapolation: 2e-2.
        assert.ok(fdErr <= 2e-2, `finite_difference relative error ${fdErr.toExponential(2)}`);
      });
    }
  });
}
