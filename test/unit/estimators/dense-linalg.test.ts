import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dot,
  norm,
  symmetricEigen,
  symmetricTridiagonalEigen,
  thinQr,
  tridiagonalEigenRows,
} from '../../../src/engine/estimators/dense-linalg.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { denseMatvec, matrixWithSpectrum, maxAbsDiff, randomSymmetric } from './matrices.js';

describe('dense linear algebra', () => {
  it('computes the norm without overflow or underflow', () => {
    // Exact up to the rounding of one square root and one division (2 ulps).
    assert.ok(Math.abs(norm(Float64Array.from([3e200, 4e200])) / 5e200 - 1) < 4e-16);
    assert.ok(Math.abs(norm(Float64Array.from([3e-200, 4e-200])) / 5e-200 - 1) < 4e-16);
    assert.equal(norm(new Float64Array(3)), 0);
  });

  it('factors columns as QR with orthonormal Q, dropping dependent columns', () => {
    const rng = createRng(5);
    const [x, y] = [rng.gaussianVector(30), rng.gaussianVector(30)];
    const z = Float64Array.from(x, (xi, i) => 2 * xi - 3 * y[i]); // in span{x, y}
    const columns = [x, y, z, rng.gaussianVector(30)];
    const { q, r, rank } = thinQr(columns);
    assert.equal(rank, 3);
    // Reorthogonalized Gram–Schmidt: orthonormal and reconstructing to a few ulps (1e-13 is generous).
    for (let i = 0; i < rank; i++) {
      for (let j = 0; j < rank; j++) assert.ok(Math.abs(dot(q[i], q[j]) - (i === j ? 1 : 0)) < 1e-13);
    }
    columns.forEach((column, j) => {
      const rebuilt = new Float64Array(30);
      q.forEach((qi, i) => qi.forEach((x, l) => (rebuilt[l] += x * r[i * 4 + j])));
      assert.ok(maxAbsDiff(rebuilt, column) < 1e-13);
    });
  });

  it('recovers a known spectrum and orthonormal eigenvectors of a dense symmetric matrix', () => {
    const lambda = [-4, -1e-3, 0, 0, 2.5, 2.5 + 1e-9, 7, 100];
    const n = lambda.length;
    const a = matrixWithSpectrum(lambda, 1);
    const { eigenvalues, eigenvectors } = symmetricEigen(a, n);
    // Backward-stable QL: errors are a few ulps of ‖A‖ = 100, i.e. ~1e-13.
    assert.ok(maxAbsDiff(eigenvalues, lambda) < 1e-12);
    eigenvectors.forEach((v, i) => {
      const residual = denseMatvec(a, n, v).map((x, l) => x - eigenvalues[i] * v[l]);
      assert.ok(norm(residual) < 1e-12);
      for (let j = 0; j < n; j++) assert.ok(Math.abs(dot(v, eigenvectors[j]) - (i === j ? 1 : 0)) < 1e-13);
    });
  });

  it('diagonalizes random symmetric matrices of several sizes, including 1×1', () => {
    for (const n of [1, 2, 3, 17, 60]) {
      const a = randomSymmetric(n, n);
      const { eigenvalues, eigenvectors } = symmetricEigen(a, n);
      for (let i = 1; i < n; i++) assert.ok(eigenvalues[i] >= eigenvalues[i - 1]);
      eigenvectors.forEach((v, i) => {
        const residual = denseMatvec(a, n, v).map((x, l) => x - eigenvalues[i] * v[l]);
        // ‖A‖ ≤ 2√n ≈ 16 for n = 60; n·ε·‖A‖ ≈ 2e-13.
        assert.ok(norm(residual) < 1e-12, `n=${n}: residual ${norm(residual)}`);
      });
    }
  });

  it('solves the tridiagonal (1, 2, 1) matrix in closed form', () => {
    // Eigenvalues of tridiag(1, 2, 1) of size m: 2 + 2cos(kπ/(m+1)); vectors sin(jkπ/(m+1)) up to sign.
    const m = 6;
    const { eigenvalues, eigenvectors } = symmetricTridiagonalEigen(
      new Array(m).fill(2),
      new Array(m - 1).fill(1),
    );
    const expected = Array.from({ length: m }, (_, k) => 2 + 2 * Math.cos(((m - k) * Math.PI) / (m + 1)));
    assert.ok(maxAbsDiff(eigenvalues, expected) < 1e-14);
    eigenvectors.forEach((v, i) => {
      const k = m - i;
      const exact = Array.from({ length: m }, (_, j) => Math.sin(((j + 1) * k * Math.PI) / (m + 1)));
      const s = Math.sign(v[0] * exact[0]) / norm(Float64Array.from(exact));
      assert.ok(
        maxAbsDiff(
          v,
          exact.map((x) => x * s),
        ) < 1e-14,
      );
    });
  });

  it('returns selected eigenvector rows equal to those of the full decomposition', () => {
    const rng = createRng(9);
    const d = rng.gaussianVector(25);
    const e = rng.gaussianVector(24);
    const full = symmetricTridiagonalEigen(d, e);
    const { eigenvalues, rows } = tridiagonalEigenRows(d, e, [0, 24]);
    assert.deepEqual(eigenvalues, full.eigenvalues);
    // Same rotations applied to fewer rows: identical up to rounding.
    assert.ok(
      maxAbsDiff(
        rows[0],
        full.eigenvectors.map((v) => v[0]),
      ) < 1e-15,
    );
    assert.ok(
      maxAbsDiff(
        rows[1],
        full.eigenvectors.map((v) => v[24]),
      ) < 1e-15,
    );
  });
});
