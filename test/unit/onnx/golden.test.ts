/**
 * Imported ONNX models (PyTorch exports, test/fixtures/onnx/) against float64 PyTorch references on the cpu and
 * wasm backends: the parameter layout, and the dense Hessian, GGN, diagonal and Hessian-vector products to 1e-4
 * relative (Frobenius), as the TF.js golden cases are held.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { compute } from '../../../src/engine/compute.js';
import { initBackend } from '../../../src/engine/backend.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { parseModel } from '../../../src/contract/model/parse.js';
import { matvec, relativeError } from '../../helpers/golden.js';
import { loadOnnxCase, onnxCaseNames } from '../../helpers/onnx-golden.js';

const TOLERANCE = 1e-4;

describe('ONNX golden cases: import', () => {
  for (const name of onnxCaseNames()) {
    it(`${name}: θ is the graph's weights and biases in initializer order, in their own shapes`, () => {
      const c = loadOnnxCase(name);
      const model = parseModel(c.request.model);
      assert.deepEqual(
        model.parameters.map(({ name: n, shape, offset, size }) => ({ name: n, shape, offset, size })),
        c.layout.map(({ name: n, shape, offset, size }) => ({ name: n, shape, offset, size })),
      );
      assert.ok(model.parameters.every((p) => !/running_(mean|var)/.test(p.name)));
    });
  }
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ONNX golden cases on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const name of onnxCaseNames()) {
      it(`${name}: hessian, ggn, diagonal and hvp match float64 to 1e-4`, async () => {
        const c = loadOnnxCase(name);
        const tensorsBefore = tf.memory().numTensors;
        const h = await compute({ ...c.request, method: { name: 'hessian' } }, { backend });
        assert.equal(h.numParams, c.numParams);
        const hErr = relativeError(h.arrays['hessian.npy'].data, c.hessian);
        assert.ok(hErr <= TOLERANCE, `hessian relative error ${hErr.toExponential(2)}`);
        assert.ok(h.verification.passed, JSON.stringify(h.verification.warnings));

        const g = await compute({ ...c.request, method: { name: 'ggn' } }, { backend });
        const gErr = relativeError(g.arrays['ggn.npy'].data, c.ggn);
        assert.ok(gErr <= TOLERANCE, `ggn relative error ${gErr.toExponential(2)}`);

        const d = await compute({ ...c.request, method: { name: 'diagonal' } }, { backend });
        const n = c.numParams;
        const diagonal = Float64Array.from({ length: n }, (_, i) => c.hessian[i * n + i]);
        const dErr = relativeError(d.arrays['diagonal.npy'].data, diagonal);
        assert.ok(dErr <= TOLERANCE, `diagonal relative error ${dErr.toExponential(2)}`);

        const rng = createRng(7);
        const vectors = [rng.gaussianVector(n), rng.gaussianVector(n)];
        const hv = await compute(
          { ...c.request, method: { name: 'hvp', vectors: vectors.map((v) => Array.from(v)) } },
          { backend },
        );
        vectors.forEach((v, i) => {
          const got = hv.arrays['hvp.npy'].data.subarray(i * n, (i + 1) * n);
          const err = relativeError(got, matvec(c.hessian, v));
          assert.ok(err <= TOLERANCE, `hvp[${i}] relative error ${err.toExponential(2)}`);
        });
        assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
      });
    }
  });
}
