/**
 * The exact GGN diagonal by a backpropagated loss-Hessian factor (BackPACK's DiagGGN) against the float64 GGN of
 * every golden case it covers (Dense chains with softmax/sigmoid cross-entropy or MSE), on cpu and wasm; the
 * explicit-Jacobian route on the cases it does not cover where N·C < P. The dense GGN by the factor's Khatri–Rao
 * products against the same float64 GGN, whole and in layer and weight blocks.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import { prepareRequest } from '../../../src/contract/request.js';
import type { ComputeRequest } from '../../../src/contract/types.js';
import { buildObjective } from '../../../src/engine/objective.js';
import { blockIds } from '../../../src/engine/methods/dense-columns.js';
import { goldenCaseNames, loadGoldenCase, relativeError } from '../../helpers/golden.js';

/** float32 against float64, relative Frobenius error of the diagonal (the dense GGN is held to the same). */
const TOLERANCE = 1e-4;

/** Whether the factor route covers the request's Hessian (without computing anything). */
function coversHessian(request: Omit<ComputeRequest, 'method'>): boolean {
  const req = { ...request, method: { name: 'diagonal' as const } };
  const prepared = prepareRequest(req);
  const objective = buildObjective(prepared.model, req.inputs, req.targets, prepared.loss, prepared.layout);
  try {
    return objective.factor?.coversHessian ?? false;
  } finally {
    objective.dispose();
  }
}

const diagonalOf = (m: Float64Array, p: number) => Float64Array.from({ length: p }, (_, i) => m[i * p + i]);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`GGN diagonal by the backpropagated factor on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    const covered: string[] = [];
    const explicit: string[] = [];
    for (const name of goldenCaseNames()) {
      it(`${name}: the GGN diagonal matches float64 (factor or explicit Jacobian)`, async (t) => {
        const c = loadGoldenCase(name);
        const r = await compute(
          { ...c.request, method: { name: 'diagonal', curvature: 'ggn' } },
          { backend },
        );
        const algorithm = r.summary.algorithm as string;
        if (algorithm === 'explicit-jacobian') explicit.push(name);
        else if (algorithm !== 'backpropagated-factor') {
          t.skip(`general route (${algorithm}), checked by products elsewhere`);
          return;
        } else covered.push(name);
        const err = relativeError(r.arrays['diagonal.npy'].data, diagonalOf(c.ggn, c.numParams));
        assert.ok(err <= TOLERANCE, `relative error ${err.toExponential(2)}`);
        assert.ok(r.verification.passed, JSON.stringify(r.verification));
      });
    }

    it('covers the Dense-chain cases and leaves the others to the general route', () => {
      for (const name of [
        'mlp_tanh_cce_fused',
        'mlp_tanh_mse',
        'mlp_tanh_bce_fused',
        'mlp_tanh_scce_fused',
        'mlp_tanh_huber',
        'mlp_tanh_huber_delta_half',
      ]) {
        assert.ok(covered.includes(name), `${name} not covered`);
      }
      for (const name of ['cnn_two_conv_maxpool', 'mlp_layernorm', 'functional_add_concat']) {
        assert.ok(!covered.includes(name), `${name} should take the general route`);
      }
    });
  });

  describe(`dense GGN by the backpropagated factor on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    for (const name of ['mlp_tanh_cce_fused', 'mlp_tanh_mse', 'mlp_tanh_bce_fused', 'mlp_tanh_scce_fused']) {
      it(`${name}: full, layer and weight blocks match float64 (relative ${TOLERANCE})`, async () => {
        const c = loadGoldenCase(name);
        for (const blocks of ['full', 'layer', 'weight'] as const) {
          const r = await compute({ ...c.request, method: { name: 'ggn', blocks } }, { backend });
          assert.equal(r.summary.algorithm, 'backpropagated-factor');
          const ids = blockIds(r.parameters, blocks);
          const p = c.numParams;
          const expected = c.ggn.map((v, at) => (ids[Math.floor(at / p)] === ids[at % p] ? v : 0));
          const err = relativeError(r.arrays['ggn.npy'].data, expected);
          assert.ok(err <= TOLERANCE, `${blocks}: relative error ${err.toExponential(2)}`);
          assert.ok(r.verification.passed, `${blocks}: ${JSON.stringify(r.verification)}`);
        }
      });
    }
  });

  describe(`dense Hessian and its diagonal by the backpropagated factor on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    const covered: string[] = [];
    for (const name of goldenCaseNames()) {
      it(`${name}: the Hessian (full, layer and weight blocks) and its diagonal match float64 (relative ${TOLERANCE})`, async (t) => {
        const c = loadGoldenCase(name);
        const p = c.numParams;
        if (!coversHessian(c.request)) {
          t.skip('general route (not a Dense chain the factor covers)');
          return;
        }
        covered.push(name);
        const d = await compute(
          { ...c.request, method: { name: 'diagonal', curvature: 'hessian' } },
          { backend },
        );
        assert.equal(d.summary.algorithm, 'backpropagated-factor');
        const dErr = relativeError(d.arrays['diagonal.npy'].data, diagonalOf(c.hessian, p));
        assert.ok(dErr <= TOLERANCE, `diagonal: relative error ${dErr.toExponential(2)}`);
        assert.ok(d.verification.passed, `diagonal: ${JSON.stringify(d.verification)}`);
        for (const blocks of ['full', 'layer', 'weight'] as const) {
          const r = await compute({ ...c.request, method: { name: 'hessian', blocks } }, { backend });
          assert.equal(r.summary.algorithm, 'backpropagated-factor');
          const ids = blockIds(r.parameters, blocks);
          const expected = c.hessian.map((v, at) => (ids[Math.floor(at / p)] === ids[at % p] ? v : 0));
          const err = relativeError(r.arrays['hessian.npy'].data, expected);
          assert.ok(err <= TOLERANCE, `${blocks}: relative error ${err.toExponential(2)}`);
          assert.ok(r.verification.passed, `${blocks}: ${JSON.stringify(r.verification)}`);
        }
      });
    }

    it('covers the Dense chains with curving activations', () => {
      for (const name of [
        'mlp_tanh_cce_fused',
        'mlp_tanh_mse',
        'mlp_tanh_bce_fused',
        'mlp_tanh_scce_fused',
      ]) {
        assert.ok(covered.includes(name), `${name} not covered`);
      }
    });
  });
}
