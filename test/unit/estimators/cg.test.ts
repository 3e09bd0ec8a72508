import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../../src/contract/errors.js';
import { conjugateGradient } from '../../../src/engine/estimators/cg.js';
import { norm, symmetricEigen } from '../../../src/engine/estimators/dense-linalg.js';
import { denseOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { counting, denseMatvec, matrixWithSpectrum, maxAbsDiff } from './matrices.js';

const N = 30;
const SPECTRUM = Array.from({ length: N }, (_, i) => 0.1 + i); // condition number 291
const A = matrixWithSpectrum(SPECTRUM, 1);
const B = createRng(2).gaussianVector(N);

/** x = (A + δI)⁻¹ b through the eigendecomposition: an independent dense reference. */
function denseSolve(a: Float64Array, n: number, b: Float64Array, delta = 0): Float64Array {
  const { eigenvalues, eigenvectors } = symmetricEigen(a, n);
  const x = new Float64Array(n);
  eigenvectors.forEach((v, i) => {
    let c = 0;
    for (let j = 0; j < n; j++) c += v[j] * b[j];
    c /= eigenvalues[i] + delta;
    for (let j = 0; j < n; j++) x[j] += c * v[j];
  });
  return x;
}

describe('conjugateGradient', () => {
  it('solves an SPD system to match the dense solution', async () => {
    const r = await conjugateGradient(denseOperator(A, N), B, { tol: 1e-13 });
    const x = denseSolve(A, N, B);
    // Relative residual 1e-13 and condition number 291 bound the relative error by ~3e-11.
    assert.ok(maxAbsDiff(r.x, x) < 1e-8 * norm(x));
    assert.ok(r.converged && !r.notPositiveDefinite);
    assert.ok(r.relativeResidual < 1e-12);
    assert.ok(r.iterations <= 2 * N, `${r.iterations} iterations`);
    assert.equal(r.message, undefined);
  });

  it('solves the damped system (A + δI)x = b', async () => {
    const r = await conjugateGradient(denseOperator(A, N), B, { damping: 2.5, tol: 1e-12 });
    const x = denseSolve(A, N, B, 2.5);
    assert.ok(maxAbsDiff(r.x, x) < 1e-8 * norm(x));
    const residual = denseMatvec(A, N, r.x).map((ax, i) => B[i] - ax - 2.5 * r.x[i]);
    // The reported residual is the explicit one.
    assert.ok(Math.abs(norm(residual) - r.residualNorm) < 1e-12);
  });

  it('detects an indefinite matrix, stops, and says how much damping it would take', async () => {
    const spectrum = SPECTRUM.map((x, i) => (i < 3 ? -x - 1 : x));
    const op = counting(denseOperator(matrixWithSpectrum(spectrum, 3), N));
    const r = await conjugateGradient(op, B, { tol: 1e-12 });
    assert.ok(r.notPositiveDefinite && !r.converged);
    assert.ok(r.curvatureAlongDirection! <= 0);
    assert.match(r.message!, /not positive definite/);
    // It stopped at the first non-positive curvature, well before a full solve.
    assert.ok(r.iterations < N);
    // Damping beyond the most negative eigenvalue (−3.1) makes it positive definite again.
    const damped = await conjugateGradient(denseOperator(matrixWithSpectrum(spectrum, 3), N), B, {
      damping: 3.5,
      tol: 1e-10,
    });
    assert.ok(damped.converged && !damped.notPositiveDefinite);
  });

  it('returns x = 0 for b = 0 without a product', async () => {
    const op = counting(denseOperator(A, N));
    const r = await conjugateGradient(op, new Float64Array(N));
    assert.deepEqual(r.x, new Float64Array(N));
    assert.deepEqual([r.converged, r.iterations, r.residualNorm, op.calls], [true, 0, 0, 0]);
  });

  it('stops at maxIter with a message, reporting each iteration', async () => {
    const seen: number[] = [];
    const r = await conjugateGradient(denseOperator(A, N), B, {
      tol: 1e-14,
      maxIter: 3,
      onIteration: (p) => void seen.push(p.iteration),
    });
    assert.deepEqual(seen, [1, 2, 3]);
    assert.ok(!r.converged && !r.notPositiveDefinite);
    assert.match(r.message!, /maxIter = 3/);
  });

  it('rejects a right-hand side of the wrong size and negative damping; lets operator errors propagate', async () => {
    const op = denseOperator(A, N);
    await assert.rejects(conjugateGradient(op, new Float64Array(3)), (e) => e instanceof EngineError);
    await assert.rejects(
      conjugateGradient(op, B, { damping: -1 }),
      (e) => e instanceof EngineError && e.code === 'invalid_method',
    );
    await assert.rejects(conjugateGradient(counting(op, 2), B), /cancelled by test/);
  });
});
