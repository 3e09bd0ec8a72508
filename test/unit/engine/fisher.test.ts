/**
 * The Fisher curvature against float64 PyTorch (generate_fisher.py): the empirical Fisher dense and its diagonal
 * on every case that has a `fisher.npz`, on cpu and wasm (≤ 1e-4 relative, float32 against float64); the
 * Monte-Carlo Fisher converging to the GGN at the 1/√samples rate on a seeded run; the refusals; and the
 * `fisher_product` check catching a wrong product.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import { buildObjective } from '../../../src/engine/objective.js';
import { fisherOperator } from '../../../src/engine/operators/fisher-operator.js';
import { fisherProductCheck } from '../../../src/engine/checks/fisher-product.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { parseNpz } from '../../../src/contract/data/npz.js';
import { EngineError } from '../../../src/contract/errors.js';
import { prepareRequest } from '../../../src/contract/request.js';
import { GOLDEN_DIR, goldenCaseNames, loadGoldenCase, relativeError } from '../../helpers/golden.js';

const TOLERANCE = 1e-4;

const fisherCases = goldenCaseNames().filter((n) => existsSync(path.join(GOLDEN_DIR, n, 'fisher.npz')));
const golden = (name: string, key: string) =>
  Float64Array.from(
    parseNpz(new Uint8Array(readFileSync(path.join(GOLDEN_DIR, name, 'fisher.npz')))).get(key)!
      .data as Float64Array,
  );

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`the empirical Fisher on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });
    it('has goldens for at least 19 cases', () =>
      assert.ok(fisherCases.length >= 19, String(fisherCases.length)));
    for (const name of fisherCases) {
      it(`${name}: dense and diagonal match float64`, async () => {
        const c = loadGoldenCase(name);
        const dense = await compute(
          { ...c.request, method: { name: 'fisher', fisherType: 'empirical' } },
          { backend },
        );
        const err = relativeError(dense.arrays['fisher.npy'].data, golden(name, 'empirical'));
        assert.ok(err <= TOLERANCE, `dense: relative error ${err.toExponential(2)}`);
        assert.ok(dense.verification.passed, JSON.stringify(dense.verification.warnings));
        const diagonal = await compute(
          { ...c.request, method: { name: 'diagonal', curvature: 'fisher', fisherType: 'empirical' } },
          { backend },
        );
        const errDiag = relativeError(
          diagonal.arrays['diagonal.npy'].data,
          golden(name, 'empirical_diagonal'),
        );
        assert.ok(errDiag <= TOLERANCE, `diagonal: relative error ${errDiag.toExponential(2)}`);
      });
    }
  });
}

describe('the Monte-Carlo Fisher', () => {
  before(async () => {
    await initBackend('cpu');
  });

  for (const name of ['mlp_tanh_cce_fused', 'mlp_sigmoid_bce_fused', 'mlp_tanh_mse']) {
    it(`${name}: converges to the GGN as 1/√samples (seeded)`, async () => {
      const c = loadGoldenCase(name);
      // Mean relative error over four seeds at 16 and 1024 samples: the rate predicts a ratio of √64 = 8.
      const errorAt = async (samples: number) => {
        let sum = 0;
        for (const seed of [1, 2, 3, 4]) {
          const r = await compute({
            ...c.request,
            seed,
            method: { name: 'fisher', fisherType: 'mc', samples },
          });
          sum += relativeError(r.arrays['fisher.npy'].data, c.ggn);
        }
        return sum / 4;
      };
      const coarse = await errorAt(16);
      const fine = await errorAt(1024);
      const ratio = coarse / fine;
      assert.ok(
        ratio > 4 && ratio < 16,
        `errors ${coarse.toExponential(2)} → ${fine.toExponential(2)}, ratio ${ratio.toFixed(1)}`,
      );
      assert.ok(fine < 0.1, `1024 samples: ${fine.toExponential(2)}`);
    });
  }

  it('is the same for the same seed and says it is an approximation', async () => {
    const c = loadGoldenCase('mlp_tanh_cce_fused');
    const run = () =>
      compute({ ...c.request, seed: 5, method: { name: 'diagonal', curvature: 'fisher', samples: 3 } });
    const [a, b] = [await run(), await run()];
    assert.deepEqual(a.arrays['diagonal.npy'].data, b.arrays['diagonal.npy'].data);
    const summary = a.summary.fisher as { type: string; samples: number; approximation: boolean };
    assert.deepEqual([summary.type, summary.samples, summary.approximation], ['mc', 3, true]);
  });

  it('refuses what it cannot do before computing, saying what to use instead', () => {
    const huber = loadGoldenCase('mlp_tanh_huber_delta_half');
    assert.throws(
      () => prepareRequest({ ...huber.request, method: { name: 'fisher' } }),
      (e: unknown) => e instanceof EngineError && e.code === 'invalid_loss' && /empirical/.test(e.message),
    );
    const multi = loadGoldenCase('multi_io_two_outputs');
    assert.throws(
      () => prepareRequest({ ...multi.request, method: { name: 'fvp', vectors: [new Array(73).fill(1)] } }),
      (e: unknown) => e instanceof EngineError && /single-output/.test(e.message),
    );
    const c = loadGoldenCase('mlp_tanh_cce_fused');
    assert.throws(
      () => prepareRequest({ ...c.request, method: { name: 'diagonal', curvature: 'ggn', samples: 4 } }),
      (e: unknown) => e instanceof EngineError && /curvature "fisher" only/.test(e.message),
    );
  });
});

describe('the fisher_product check', () => {
  before(async () => {
    await initBackend('cpu');
  });
  it('passes the operator and fails a product off by 1%', async () => {
    const c = loadGoldenCase('mlp_relu_cce_fused');
    const prepared = prepareRequest({ ...c.request, method: { name: 'fisher' } });
    const objective = buildObjective(
      prepared.model,
      c.request.inputs,
      c.request.targets,
      prepared.loss,
      prepared.layout,
    );
    const operator = fisherOperator(objective, { type: 'mc', samples: 2, rng: createRng(1) });
    try {
      const ctx = { objective, operator: () => operator, rng: createRng(2) };
      const good = await fisherProductCheck(ctx);
      assert.ok(good.passed && (good.value as number) < 1e-5, good.detail);
      const v = createRng(4).gaussianVector(objective.numParams);
      const wrong = (await operator.matvec(v)).map((x) => 1.01 * x);
      const bad = await fisherProductCheck(ctx, {
        direction: v,
        product: wrong,
        source: 'a corrupted product',
      });
      assert.ok(!bad.passed && (bad.value as number) > 5e-3, bad.detail);
    } finally {
      operator.dispose();
      objective.dispose();
    }
  });
});
