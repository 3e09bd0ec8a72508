import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../../src/contract/errors.js';
import { dot, norm } from '../../../src/engine/estimators/dense-linalg.js';
import { jacobiEigen } from '../../helpers/reference-eigen.js';
import { lanczosEigs, type EigenWhich } from '../../../src/engine/estimators/lanczos.js';
import { denseOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { counting, denseMatvec, matrixWithSpectrum, maxAbsDiff } from './matrices.js';

// Clustered (10, 10 − 1e-7, 10 − 2e-7), negative, and zero eigenvalues.
const SPECTRUM = [10, 10 - 1e-7, 10 - 2e-7, -12, -3, -1, 0, 0.5, 1, 2, 3.5, 4, 6, -8, -0.25, 7];
const N = SPECTRUM.length;
const A = matrixWithSpectrum(SPECTRUM, 11);

function expected(which: EigenWhich, k: number): number[] {
  const sorted = [...SPECTRUM].sort((a, b) => a - b);
  if (which === 'smallest') return sorted.slice(0, k);
  if (which === 'largest') return sorted.reverse().slice(0, k);
  return [...SPECTRUM].sort((a, b) => Math.abs(b) - Math.abs(a)).slice(0, k);
}

function assertEigenpairs(
  a: Float64Array,
  n: number,
  values: Float64Array,
  vectors: Float64Array[],
  tol: number,
) {
  vectors.forEach((v, i) => {
    assert.ok(Math.abs(norm(v) - 1) < 1e-13, 'unit norm');
    const residual = denseMatvec(a, n, v).map((x, l) => x - values[i] * v[l]);
    assert.ok(norm(residual) < tol, `residual ${norm(residual)}`);
    for (let j = 0; j < i; j++) assert.ok(Math.abs(dot(v, vectors[j])) < 1e-8, 'orthogonal');
  });
}

describe('lanczosEigs', () => {
  for (const which of ['largest', 'smallest', 'magnitude'] as const) {
    it(`is exact with maxIter = n for the ${which} eigenvalues, including clusters and negatives`, async () => {
      const r = await lanczosEigs(denseOperator(A, N), {
        k: 5,
        which,
        maxIter: N,
        tol: 1e-13,
        explicitResiduals: true,
      });
      // A full Krylov space: Ritz values are eigenvalues up to rounding (‖A‖ = 12, ε‖A‖√n ≈ 1e-14).
      assert.ok(maxAbsDiff(r.eigenvalues, expected(which, 5)) < 1e-10, `${Array.from(r.eigenvalues)}`);
      assertEigenpairs(A, N, r.eigenvalues, r.eigenvectors, 1e-10);
      assert.ok(r.converged);
      // The tolerance's scale, max |Ritz value|, is the spectral radius 12 once the Krylov space is full.
      assert.ok(Math.abs(r.ritzScale - 12) < 1e-10, `${r.ritzScale}`);
      // The Lanczos-relation residual and the explicit one agree to rounding.
      assert.ok(maxAbsDiff(r.residualNorms, r.explicitResidualNorms!) < 1e-10);
    });
  }

  it('finds every copy of a repeated eigenvalue by restarting after breakdown', async () => {
    const spectrum = [5, 5, 5, -3, -3, 1, 2, 0, 4.5, -7, 0.5, 0.25];
    const n = spectrum.length;
    const a = matrixWithSpectrum(spectrum, 3);
    const largest = await lanczosEigs(denseOperator(a, n), { k: 4, maxIter: n, tol: 1e-12 });
    // One Krylov space sees each distinct eigenvalue once; only restarts reveal the multiplicity.
    assert.ok(largest.restarts >= 1);
    assert.ok(maxAbsDiff(largest.eigenvalues, [5, 5, 5, 4.5]) < 1e-10);
    assertEigenpairs(a, n, largest.eigenvalues, largest.eigenvectors, 1e-10);
    const smallest = await lanczosEigs(denseOperator(a, n), {
      k: 3,
      which: 'smallest',
      maxIter: n,
      tol: 1e-12,
    });
    assert.ok(maxAbsDiff(smallest.eigenvalues, [-7, -3, -3]) < 1e-10);
  });

  it('stops once a low-rank operator has shown all its nonzero eigenvalues', async () => {
    const spectrum = [3, 2, 1, ...new Array(97).fill(0)];
    const op = counting(denseOperator(matrixWithSpectrum(spectrum, 4), 100));
    const r = await lanczosEigs(op, { k: 3, tol: 1e-10 });
    // The Krylov space is 4-dimensional (3 eigenvalues + the null space): breakdown at 4, one restart block
    // inside the null space confirms nothing better is left.
    assert.ok(maxAbsDiff(r.eigenvalues, [3, 2, 1]) < 1e-10);
    assert.ok(r.converged && op.calls <= 6, `${op.calls} products`);
  });

  it('stops early once the wanted pairs meet the tolerance, with honest residual norms', async () => {
    const n = 300;
    const spectrum = Array.from({ length: n }, (_, i) => (i < 3 ? 50 - 10 * i : Math.sin(i) * 5));
    const a = matrixWithSpectrum(spectrum, 8);
    const tol = 1e-9;
    const r = await lanczosEigs(denseOperator(a, n), { k: 3, tol, explicitResiduals: true });
    assert.ok(r.converged);
    assert.ok(r.iterations < 60, `${r.iterations} iterations`);
    // Residual ≤ tol·‖A‖ = 5e-8 bounds the eigenvalue error by residual²/gap ≈ 2.5e-16 (gap ≥ 10) — 1e-11 is
    // the rounding floor of the comparison.
    assert.ok(maxAbsDiff(r.eigenvalues, [50, 40, 30]) < 1e-11);
    r.residualNorms.forEach((res, i) => {
      assert.ok(res <= tol * 50);
      // Explicit residuals include rounding in the Ritz vectors (~1e-13·‖A‖).
      assert.ok(Math.abs(res - r.explicitResidualNorms![i]) < 1e-11);
    });
    assertEigenpairs(a, n, r.eigenvalues, r.eigenvectors, 1e-7);
  });

  it('agrees with a dense eigensolver on a random matrix to the requested tolerance', async () => {
    const n = 80;
    const rng = createRng(21);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
    // An independent float64 solver (cyclic Jacobi), sharing no code with Lanczos's own Ritz solve (tql2).
    const exact = jacobiEigen(a, n).eigenvalues;
    const r = await lanczosEigs(denseOperator(a, n), { k: 2, which: 'magnitude', maxIter: n, tol: 1e-10 });
    const byMagnitude = Array.from(exact).sort((x, y) => Math.abs(y) - Math.abs(x));
    // Residual ≤ 1e-10·‖A‖ and a relative gap of ~1% bound the eigenvalue error well below 1e-9.
    assert.ok(maxAbsDiff(r.eigenvalues, byMagnitude.slice(0, 2)) < 1e-9);
  });

  it('is deterministic given the seed', async () => {
    const run = () => lanczosEigs(denseOperator(A, N), { k: 2, maxIter: 8, rng: createRng(5) });
    const [first, second] = [await run(), await run()];
    assert.deepEqual(first.eigenvalues, second.eigenvalues);
    assert.deepEqual(first.eigenvectors, second.eigenvectors);
  });

  it('reports each step and lets an error thrown by the operator propagate', async () => {
    const steps: number[] = [];
    await lanczosEigs(denseOperator(A, N), {
      k: 1,
      maxIter: 6,
      tol: 1e-15,
      onStep: (p) => void steps.push(p.iteration),
    });
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
    const op = counting(denseOperator(A, N), 4);
    await assert.rejects(lanczosEigs(op, { k: 2 }), /cancelled by test/);
    assert.equal(op.calls, 4);
  });

  it('refuses k outside [1, n] and maxIter below k', async () => {
    const invalid = (e: unknown) => e instanceof EngineError && e.code === 'invalid_method';
    await assert.rejects(lanczosEigs(denseOperator(A, N), { k: 0 }), invalid);
    await assert.rejects(lanczosEigs(denseOperator(A, N), { k: N + 1 }), invalid);
    await assert.rejects(lanczosEigs(denseOperator(A, N), { k: 4, maxIter: 3 }), invalid);
  });

  it('handles the zero operator and a 1×1 operator', async () => {
    const zero = await lanczosEigs(denseOperator(new Float64Array(9), 3), { k: 2 });
    assert.deepEqual(Array.from(zero.eigenvalues), [0, 0]);
    assert.ok(zero.converged);
    const one = await lanczosEigs(denseOperator(Float64Array.of(-2.5), 1), { k: 1, which: 'smallest' });
    assert.deepEqual(Array.from(one.eigenvalues), [-2.5]);
    assert.deepEqual(Array.from(one.eigenvectors[0]).map(Math.abs), [1]);
  });
});
