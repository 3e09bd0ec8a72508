/**
 * Each method's own verification checks must be able to fail: an inverse that is not a solution, a corrupted
 * eigenvector, a corrupted dense column, a skewed GGN are caught; the true results pass. On a golden case, on the
 * cpu and wasm backends. Float32 tolerances are stated where used.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { initBackend } from '../../../src/engine/backend.js';
import type { CheckContext } from '../../../src/engine/checks/check.js';
import { EIGEN_RESIDUAL_FLOOR, eigenResidualCheck } from '../../../src/engine/checks/eigen-residuals.js';
import { standardErrorCheck } from '../../../src/engine/checks/estimate.js';
import { INVERSE_RESIDUAL_FLOOR } from '../../../src/engine/checks/inverse-residuals.js';
import { productCheck } from '../../../src/engine/checks/product.js';
import { EXACT_COLUMN_TOLERANCE, sampledColumnsCheck } from '../../../src/engine/checks/sampled-columns.js';
import { compute } from '../../../src/engine/compute.js';
import { symmetricEigen } from '../../../src/engine/estimators/dense-linalg.js';
import type { LinearOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { buildObjective, type Objective } from '../../../src/engine/objective.js';
import { ggnOperator } from '../../../src/engine/operators/ggn-operator.js';
import { hessianOperator } from '../../../src/engine/operators/hessian-operator.js';
import { prepareRequest } from '../../../src/contract/request.js';
import type { VerificationCheck } from '../../../src/contract/types.js';
import { summarizeChecks } from '../../../src/engine/verification.js';
import { loadGoldenCase } from '../../helpers/golden.js';

/** λ_min(H) = −0.66, λ_max = 1.31: H + 0.1·I is indefinite, H + 1·I positive definite. */
const c = loadGoldenCase('mlp_tanh_cce_fused');
const P = c.numParams;
const b = [Array.from({ length: P }, (_, i) => Math.sin(i + 1))];
const check = (r: { verification: { checks: VerificationCheck[] } }, name: string) =>
  r.verification.checks.find((x) => x.name === name)!;

for (const backend of ['cpu', 'wasm'] as const)
  describe(`verification checks on the ${backend} backend`, () => {
    let objective: Objective;
    let hessian: LinearOperator;
    let ggn: LinearOperator & { dispose(): void };
    before(async () => {
      await initBackend(backend);
      const plan = prepareRequest({ ...c.request, method: { name: 'hessian' } });
      objective = buildObjective(plan.model, c.request.inputs, c.request.targets, plan.loss, plan.layout);
      hessian = hessianOperator(objective);
      ggn = ggnOperator(objective) as LinearOperator & { dispose(): void };
    });
    after(() => {
      ggn.dispose();
      objective.dispose();
    });
    const context = (operators: Partial<Record<'hessian' | 'ggn', LinearOperator>> = {}): CheckContext => ({
      objective,
      operator: (kind) => (kind !== 'fisher' && operators[kind]) || (kind === 'hessian' ? hessian : ggn),
      rng: createRng(3),
    });

    it('fails inverse_hvp on an indefinite H + δI and says so, but still returns the iterate', async () => {
      const r = await compute({ ...c.request, method: { name: 'inverse_hvp', damping: 0.1, vectors: b } });
      const residual = check(r, 'inverse_hvp_residual');
      assert.equal(r.verification.passed, false);
      assert.equal(r.summary.converged, false);
      assert.equal(residual.passed, false);
      // The iterate CG stopped at leaves ‖(H + 0.1 I)x − b‖/‖b‖ ≈ 1.5, far above the tolerance.
      assert.ok(residual.value! > residual.tolerance!, JSON.stringify(residual));
      assert.ok(residual.value! > 0.5);
      assert.deepEqual(residual.values, [residual.value]);
      assert.match(
        r.verification.warnings.join('\n'),
        /VERIFICATION FAILED: inverse_hvp_residual.*not positive definite/,
      );
      assert.match(r.summary.warning as string, /not positive definite/);
      assert.deepEqual(r.arrays['inverse_hvp.npy'].shape, [1, P]);
    });

    it('passes inverse_hvp on a positive definite H + δI with a true residual below 1e-4', async () => {
      const r = await compute({ ...c.request, method: { name: 'inverse_hvp', damping: 1, vectors: b } });
      const residual = check(r, 'inverse_hvp_residual');
      assert.ok(r.verification.passed, JSON.stringify(r.verification));
      assert.equal(r.summary.converged, true);
      // CG to tol 1e-6 on float32 products: the fresh residual is ~3e-7, and accepted up to tol + 1e-4.
      assert.ok(residual.value! < 1e-4, JSON.stringify(residual));
      assert.equal(residual.tolerance, 1e-6 + INVERSE_RESIDUAL_FLOOR);
    });

    it('passes the reference eigenpairs and fails a corrupted eigenvector or an unconverged run', async () => {
      const reference = symmetricEigen(c.hessian, P);
      const top = [P - 1, P - 2, P - 3];
      const pairs = {
        eigenvalues: top.map((i) => reference.eigenvalues[i]),
        eigenvectors: top.map((i) => reference.eigenvectors[i]),
      };
      const scale = Math.max(Math.abs(reference.eigenvalues[0]), Math.abs(reference.eigenvalues[P - 1]));
      const options = { scale, tol: 1e-5, converged: true };
      const good = await eigenResidualCheck(hessian, pairs, options);
      // Float64 reference eigenpairs against float32 products: residuals ~1e-7 of the spectral radius.
      assert.ok(good.passed && good.value! < 1e-6, JSON.stringify(good));
      assert.equal(good.tolerance, 1e-5 + EIGEN_RESIDUAL_FLOOR);
      assert.equal(good.values!.length, 3);

      const corrupted = Float64Array.from(pairs.eigenvectors[1]);
      corrupted[0] += 0.1;
      const length = Math.hypot(...corrupted);
      const bad = await eigenResidualCheck(
        hessian,
        {
          ...pairs,
          eigenvectors: [pairs.eigenvectors[0], corrupted.map((x) => x / length), pairs.eigenvectors[2]],
        },
        options,
      );
      assert.equal(bad.passed, false);
      assert.ok(bad.values![1] > 100 * bad.tolerance! && bad.values![0] < 1e-6, JSON.stringify(bad));

      const unconverged = await eigenResidualCheck(hessian, pairs, { ...options, converged: false });
      assert.equal(unconverged.passed, false);
      assert.match(unconverged.detail, /did not converge/);
    });

    it('catches a corrupted dense column among the sampled ones', async () => {
      const r = await compute({ ...c.request, method: { name: 'hessian' } });
      const matrix = Float32Array.from(r.arrays['hessian.npy'].data);
      const good = await sampledColumnsCheck(hessian, matrix, [3, 17, 40], EXACT_COLUMN_TOLERANCE);
      // The same float32 products, symmetrized: ~1e-7.
      assert.ok(good.passed && good.value! < 1e-6, JSON.stringify(good));
      for (let i = 0; i < P; i++) matrix[i * P + 17] *= 1.01;
      const bad = await sampledColumnsCheck(hessian, matrix, [3, 17, 40], EXACT_COLUMN_TOLERANCE);
      assert.equal(bad.passed, false);
      // A 1% error in column 17 only (relative to that column, or less when it is smaller than the average one).
      const [other, corrupted] = bad.values!;
      assert.ok(corrupted > 10 * EXACT_COLUMN_TOLERANCE && corrupted <= 0.01 + 1e-6, JSON.stringify(bad));
      assert.ok(other < 1e-6);
    });

    it('fails the full GGN product of a GGN that is 20% off, and hvp’s own product when it is wrong', async () => {
      const good = await productCheck(context(), 'ggn');
      // Central differences of first-order passes in float32: ~1e-4 on this smooth model; tolerance 5%.
      assert.ok(good.passed && good.value! < 1e-3, JSON.stringify(good));
      const skewed = {
        size: P,
        matvec: async (v: Float64Array) => (await ggn.matvec(v)).map((x) => 1.2 * x),
      };
      const bad = await productCheck(context({ ggn: skewed }), 'ggn');
      assert.equal(bad.name, 'full_ggn_product');
      assert.equal(bad.passed, false);

      const direction = Float64Array.from(b[0]);
      const product = await hessian.matvec(direction);
      const own = await productCheck(context(), 'hessian', { direction, product, source: 'test' });
      assert.ok(own.passed && own.value! < 1e-3, JSON.stringify(own));
      product[5] += 0.5 * Math.hypot(...product);
      const wrong = await productCheck(context(), 'hessian', { direction, product, source: 'test' });
      assert.equal(wrong.name, 'product_fd');
      assert.equal(wrong.passed, false);
    });
  });

describe('verification summary', () => {
  const base = { inconclusive: false, approximation: false, detail: 'd' };
  it('passes when every decisive check passes, ignores inconclusive ones, and warns for each failure', () => {
    const ok: VerificationCheck = { ...base, name: 'symmetry', passed: true, value: 1e-8, tolerance: 1e-3 };
    const inconclusive: VerificationCheck = {
      ...base,
      name: 'directional_fd',
      passed: false,
      value: 0.4,
      tolerance: 0.3,
      inconclusive: true,
    };
    const estimate = standardErrorCheck(0.1, 'an estimate');
    assert.deepEqual(
      { ...estimate, detail: undefined },
      {
        name: 'standard_error',
        passed: true,
        value: 0.1,
        tolerance: null,
        inconclusive: false,
        approximation: true,
        detail: undefined,
      },
    );
    const single = standardErrorCheck(Number.NaN, 'one probe');
    assert.equal(single.inconclusive, true);
    assert.equal(single.value, null);
    const passing = summarizeChecks([ok, inconclusive, estimate, single]);
    assert.equal(passing.passed, true);
    assert.equal(passing.warnings.length, 2);
    assert.ok(passing.warnings.every((w) => /inconclusive/.test(w)));

    const off: VerificationCheck = { ...ok, name: 'sampled_columns', passed: false, value: 1 };
    const failed = summarizeChecks([ok, off]);
    assert.equal(failed.passed, false);
    assert.deepEqual(failed.warnings, ['VERIFICATION FAILED: sampled_columns (tolerance 1.0e-3): d']);
  });
});
