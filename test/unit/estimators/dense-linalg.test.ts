/**
 * The dense float64 kernels against facts that do not come from the code under test: closed forms, known
 * spectra, the defining equations (A v = λ v, VᵀV = I, QR = A), Gauss-quadrature moments, and independent
 * algorithms written in test/helpers/reference-eigen.ts (cyclic Jacobi, Sturm-sequence bisection, inverse
 * iteration with Gaussian elimination), which share nothing with Householder + implicit QL.
 *
 * Tolerances are float64 and scale with the matrix: a backward-stable eigensolver has residuals and
 * eigenvalue errors of a few n·ε·‖T‖ (ε = 2.2e-16), so 1e-13·‖T‖ (≈ 450ε·‖T‖) for n ≤ 60; an eigenvector's
 * error is that over its eigenvalue's gap (Davis–Kahan), hence 1e-13·‖T‖/gap for vectors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dot,
  norm,
  orthogonalizeAgainst,
  symmetricEigen,
  symmetricTridiagonalEigen,
  thinQr,
  tridiagonalEigenRows,
} from '../../../src/engine/estimators/dense-linalg.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import {
  bisectionEigenvalues,
  inverseIteration,
  jacobiEigen,
  tridiagonalMatvec,
  tridiagonalNorm,
  tridiagonalToDense,
} from '../../helpers/reference-eigen.js';
import { denseMatvec, matrixWithSpectrum, maxAbsDiff, randomSymmetric } from './matrices.js';

/** Relative to ‖T‖: eigenvalue errors, residuals ‖Tv − λv‖ and departures from orthonormality. */
const VALUE_TOLERANCE = 1e-13;
/** Times ‖T‖/gap: eigenvector errors. */
const VECTOR_TOLERANCE = 1e-13;

const range = (m: number) => Array.from({ length: m }, (_, i) => i);

/** Every row of tridiagonalEigenRows, read back as eigenvectors: vectors[i][j] = rows[j][i]. */
function tridiagonalEigenvectors(d: ArrayLike<number>, e: ArrayLike<number>) {
  const m = d.length;
  const { eigenvalues, rows } = tridiagonalEigenRows(d, e, range(m));
  assert.equal(rows.length, m);
  return { eigenvalues, vectors: range(m).map((i) => Float64Array.from(rows, (row) => row[i])) };
}

/** ‖T vᵢ − λᵢ vᵢ‖ ≤ tol·‖T‖ (T applied by its own three-term formula), |vᵢᵀvⱼ − δᵢⱼ| ≤ tol, λ ascending. */
function assertTridiagonalEigenpairs(
  d: ArrayLike<number>,
  e: ArrayLike<number>,
  eigenvalues: Float64Array,
  vectors: Float64Array[],
  label: string,
) {
  const scale = Math.max(tridiagonalNorm(d, e), Number.MIN_VALUE);
  for (let i = 1; i < eigenvalues.length; i++) assert.ok(eigenvalues[i] >= eigenvalues[i - 1], label);
  vectors.forEach((v, i) => {
    const tv = tridiagonalMatvec(d, e, v);
    const residual = norm(tv.map((x, l) => x - eigenvalues[i] * v[l]));
    assert.ok(residual <= VALUE_TOLERANCE * scale, `${label}: residual ${residual} of pair ${i}`);
    vectors.forEach((w, j) => {
      const gram = dot(v, w) - (i === j ? 1 : 0);
      assert.ok(Math.abs(gram) <= VALUE_TOLERANCE, `${label}: v${i}ᵀv${j} off by ${gram}`);
    });
  });
}

/** For each eigenvalue, the distance to the nearest other one (Infinity for a 1×1). */
function gaps(eigenvalues: ArrayLike<number>): number[] {
  return Array.from(eigenvalues, (x, i) =>
    Math.min(
      i > 0 ? x - eigenvalues[i - 1] : Infinity,
      i < eigenvalues.length - 1 ? eigenvalues[i + 1] - x : Infinity,
    ),
  );
}

/** `actual` equals ±`expected` (the sign of an eigenvector is arbitrary), entrywise within `tol`. */
function assertEqualUpToSign(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  label: string,
) {
  let overlap = 0;
  for (let i = 0; i < expected.length; i++) overlap += actual[i] * expected[i];
  const sign = overlap < 0 ? -1 : 1;
  const error = maxAbsDiff(
    actual,
    Array.from(expected, (x) => sign * x),
  );
  assert.ok(error <= tol, `${label}: off by ${error} (tolerance ${tol})`);
}

function randomTridiagonal(m: number, seed: number) {
  const rng = createRng(seed);
  return { d: rng.gaussianVector(m), e: rng.gaussianVector(Math.max(m - 1, 0)) };
}

/** The tridiagonal Toeplitz matrix (diagonal a, off-diagonal b) of size m. */
function toeplitz(a: number, b: number, m: number) {
  return { d: new Array<number>(m).fill(a), e: new Array<number>(Math.max(m - 1, 0)).fill(b) };
}

/** |a| + 2|b|: ‖T‖ for m ≥ 3, and the size of the closed form's terms (whose rounding counts even when m = 1). */
const toeplitzScale = (a: number, b: number) => Math.abs(a) + 2 * Math.abs(b);

/** Its eigenpairs in closed form: λ_k = a + 2b·cos(kπ/(m+1)), v_k ∝ (sin(jkπ/(m+1)))_j, k = 1..m, ascending. */
function toeplitzEigen(a: number, b: number, m: number) {
  const pairs = range(m).map((i) => {
    const k = i + 1;
    const theta = (k * Math.PI) / (m + 1);
    const v = Float64Array.from({ length: m }, (_, j) => Math.sin((j + 1) * theta));
    const length = norm(v);
    return { value: a + 2 * b * Math.cos(theta), vector: v.map((x) => x / length) };
  });
  pairs.sort((p, q) => p.value - q.value);
  return { eigenvalues: pairs.map((p) => p.value), vectors: pairs.map((p) => p.vector) };
}

describe('the test reference solvers (test/helpers/reference-eigen.ts)', () => {
  it('reproduce known spectra: Jacobi on Q diag(λ) Qᵀ, bisection on tridiagonal Toeplitz matrices', () => {
    const lambda = [-4, -1e-3, 0, 0, 2.5, 2.5 + 1e-9, 7, 100];
    const jacobi = jacobiEigen(matrixWithSpectrum(lambda, 1), lambda.length);
    // Jacobi rotations are backward stable: a few ε·‖A‖_F ≈ 1e-13 for ‖A‖_F ≈ 100.
    assert.ok(maxAbsDiff(jacobi.eigenvalues, lambda) < 1e-12);
    for (const [a, b, m] of [
      [2, 1, 6],
      [-1, -0.5, 30],
      [0, 3, 1],
    ]) {
      const { d, e } = toeplitz(a, b, m);
      const exact = toeplitzEigen(a, b, m).eigenvalues;
      assert.ok(maxAbsDiff(bisectionEigenvalues(d, e), exact) <= VALUE_TOLERANCE * toeplitzScale(a, b));
    }
  });
});

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

  it('orthogonalizes a vector against orthonormal columns, removing exactly their components', () => {
    const rng = createRng(6);
    const { q } = thinQr([rng.gaussianVector(20), rng.gaussianVector(20), rng.gaussianVector(20)]);
    const w = rng.gaussianVector(20);
    const projection = new Float64Array(20);
    for (const u of q) u.forEach((x, l) => (projection[l] += dot(u, w) * x));
    const copy = Float64Array.from(w);
    const out = orthogonalizeAgainst(copy, q);
    assert.equal(out, copy, 'in place');
    // Two passes leave components of a few ε·‖w‖ (‖w‖ ≈ 4.5); w − out is the projection QQᵀw.
    for (const u of q) assert.ok(Math.abs(dot(u, out)) < 1e-14);
    assert.ok(
      maxAbsDiff(
        w.map((x, l) => x - out[l]),
        projection,
      ) < 1e-14,
    );
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

  it('diagonalizes random symmetric matrices of several sizes, including 1×1, agreeing with Jacobi', () => {
    for (const n of [1, 2, 3, 17, 60]) {
      const a = randomSymmetric(n, n);
      const { eigenvalues, eigenvectors } = symmetricEigen(a, n);
      for (let i = 1; i < n; i++) assert.ok(eigenvalues[i] >= eigenvalues[i - 1]);
      eigenvectors.forEach((v, i) => {
        const residual = denseMatvec(a, n, v).map((x, l) => x - eigenvalues[i] * v[l]);
        // ‖A‖ ≤ 2√n ≈ 16 for n = 60; n·ε·‖A‖ ≈ 2e-13.
        assert.ok(norm(residual) < 1e-12, `n=${n}: residual ${norm(residual)}`);
      });
      // An independent algorithm (cyclic Jacobi): both are within a few n·ε·‖A‖ of the truth.
      const jacobi = jacobiEigen(a, n);
      const error = maxAbsDiff(eigenvalues, jacobi.eigenvalues);
      assert.ok(error < 1e-12, `n=${n}: QL and Jacobi eigenvalues differ by ${error}`);
    }
  });

  it('returns an orthonormal basis of each eigenspace for exactly repeated eigenvalues', () => {
    const lambda = [-2, 0, 0, 1, 1, 3, 3, 3];
    const n = lambda.length;
    const a = matrixWithSpectrum(lambda, 4);
    const { eigenvalues, eigenvectors } = symmetricEigen(a, n);
    assert.ok(maxAbsDiff(eigenvalues, lambda) < 1e-13);
    eigenvectors.forEach((v, i) => {
      const residual = denseMatvec(a, n, v).map((x, l) => x - eigenvalues[i] * v[l]);
      assert.ok(norm(residual) < 1e-13);
      for (let j = 0; j < n; j++) assert.ok(Math.abs(dot(v, eigenvectors[j]) - (i === j ? 1 : 0)) < 1e-13);
    });
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
});

describe('tridiagonalEigenRows', () => {
  it('solves every tridiagonal Toeplitz matrix in closed form: λ_k = a + 2b·cos(kπ/(m+1))', () => {
    for (const [a, b] of [
      [2, 1],
      [-1, -0.5],
      [0, 3],
      [5, 1e-3],
      [1e-3, -7],
    ]) {
      for (const m of [1, 2, 7, 30]) {
        const label = `a=${a}, b=${b}, m=${m}`;
        const { d, e } = toeplitz(a, b, m);
        const scale = toeplitzScale(a, b);
        const exact = toeplitzEigen(a, b, m);
        const { eigenvalues, vectors } = tridiagonalEigenvectors(d, e);
        const error = maxAbsDiff(eigenvalues, exact.eigenvalues);
        assert.ok(error <= VALUE_TOLERANCE * scale, `${label}: eigenvalues off by ${error}`);
        assertTridiagonalEigenpairs(d, e, eigenvalues, vectors, label);
        const gap = gaps(exact.eigenvalues);
        vectors.forEach((v, i) =>
          assertEqualUpToSign(v, exact.vectors[i], (VECTOR_TOLERANCE * scale) / gap[i], `${label}, v${i}`),
        );
      }
    }
  });

  it('agrees with Sturm-sequence bisection on random tridiagonals, with T v = λ v and orthonormal vectors', () => {
    for (const [m, seed] of [
      [1, 1],
      [2, 2],
      [3, 3],
      [8, 4],
      [25, 9],
      [60, 10],
    ]) {
      const { d, e } = randomTridiagonal(m, seed);
      const { eigenvalues, vectors } = tridiagonalEigenvectors(d, e);
      const reference = bisectionEigenvalues(d, e);
      const error = maxAbsDiff(eigenvalues, reference);
      assert.ok(
        error <= VALUE_TOLERANCE * tridiagonalNorm(d, e),
        `m=${m}: eigenvalues off bisection by ${error}`,
      );
      assertTridiagonalEigenpairs(d, e, eigenvalues, vectors, `m=${m}`);
    }
  });

  it('matches the 2×2 closed form (d₀ + d₁)/2 ± √(((d₀ − d₁)/2)² + e²)', () => {
    for (const [d0, d1, e0] of [
      [1, 3, 0.5],
      [-2, -2, 1],
      [4, -1, -3],
    ]) {
      const mean = (d0 + d1) / 2;
      const radius = Math.hypot((d0 - d1) / 2, e0);
      const { eigenvalues } = tridiagonalEigenRows([d0, d1], [e0], []);
      // A handful of roundings of numbers of size ‖T‖ ≤ 7.
      assert.ok(maxAbsDiff(eigenvalues, [mean - radius, mean + radius]) < 1e-14);
    }
  });

  it('returns only the requested rows, equal to independent inverse-iteration eigenvectors up to sign', () => {
    const m = 25;
    const { d, e } = randomTridiagonal(m, 9);
    const scale = tridiagonalNorm(d, e);
    const exactValues = bisectionEigenvalues(d, e);
    const gap = gaps(exactValues);
    const dense = tridiagonalToDense(d, e);
    const reference = Array.from(exactValues, (lambda) => inverseIteration(dense, m, lambda));
    for (const selection of [[0], [m - 1], [m - 1, 0], [7, 3, 19]]) {
      const { eigenvalues, rows } = tridiagonalEigenRows(d, e, selection);
      assert.ok(maxAbsDiff(eigenvalues, exactValues) <= VALUE_TOLERANCE * scale);
      assert.equal(rows.length, selection.length);
      rows.forEach((row) => assert.equal(row.length, m));
      // Eigenvector i restricted to the selected components: rows[k][i] = ±u_i[selection[k]], one sign per i.
      for (let i = 0; i < m; i++) {
        assertEqualUpToSign(
          rows.map((row) => row[i]),
          selection.map((r) => reference[i][r]),
          (VECTOR_TOLERANCE * scale) / gap[i],
          `rows ${selection}, eigenvector ${i}`,
        );
      }
    }
  });

  it('gives selected rows satisfying the Gauss-quadrature moments Σᵢ zᵣᵢ zₛᵢ λᵢᵏ = (Tᵏ)ᵣₛ', () => {
    // m = 6 with off-diagonals near 1: (Tᵏ)₀,₅ is 0 for k < 5 and e₀e₁e₂e₃e₄ for k = 5, which fixes the relative
    // signs of the first and last rows; ‖T‖ ≲ 5, so moments up to k = 5 are ≲ 3e3 and 1e-12·‖T‖ᵏ bounds rounding.
    const rng = createRng(12);
    const m = 6;
    const d = rng.gaussianVector(m);
    const e = Float64Array.from({ length: m - 1 }, () => 0.8 + 0.7 * rng.uniform());
    const scale = tridiagonalNorm(d, e);
    const { eigenvalues, rows } = tridiagonalEigenRows(d, e, [m - 1, 0]);
    const [last, first] = rows;
    // Columns of Tᵏ by repeated three-term products from e₀ and e₅.
    let t0: Float64Array = Float64Array.from({ length: m }, (_, i) => (i === 0 ? 1 : 0));
    let t5: Float64Array = Float64Array.from({ length: m }, (_, i) => (i === m - 1 ? 1 : 0));
    for (let k = 0; k < m; k++) {
      const moment = (u: Float64Array, w: Float64Array) =>
        u.reduce((s, x, i) => s + x * w[i] * eigenvalues[i] ** k, 0);
      const tol = 1e-12 * Math.max(1, scale) ** k;
      assert.ok(Math.abs(moment(first, first) - t0[0]) <= tol, `(T^${k})₀₀`);
      assert.ok(Math.abs(moment(last, last) - t5[m - 1]) <= tol, `(T^${k})₅₅`);
      assert.ok(Math.abs(moment(first, last) - t0[m - 1]) <= tol, `(T^${k})₀₅`);
      t0 = tridiagonalMatvec(d, e, t0);
      t5 = tridiagonalMatvec(d, e, t5);
    }
  });

  it('returns the sorted diagonal and unit vectors when the off-diagonal is zero', () => {
    const d = [3, -1, 2.5, 0, -7];
    const e = [0, 0, 0, 0];
    const { eigenvalues, rows } = tridiagonalEigenRows(d, e, range(5));
    assert.deepEqual(Array.from(eigenvalues), [-7, -1, 0, 2.5, 3]);
    // Eigenvector i is ±e_{j} for the diagonal entry j holding eigenvalue i: component j is ±1, the rest 0.
    Array.from(eigenvalues).forEach((lambda, i) => {
      const j = d.indexOf(lambda);
      rows.forEach((row, r) => assert.equal(Math.abs(row[i]), r === j ? 1 : 0, `v${i}[${r}]`));
    });
  });

  it('returns an orthonormal basis of each eigenspace for exactly repeated eigenvalues', () => {
    // A zero off-diagonal and a repeated diagonal: eigenvalue 2 four times, −1 once (±e₃).
    const d = [2, 2, 2, -1, 2];
    const repeated = tridiagonalEigenvectors(d, [0, 0, 0, 0]);
    assert.deepEqual(Array.from(repeated.eigenvalues), [-1, 2, 2, 2, 2]);
    assertTridiagonalEigenpairs(d, [0, 0, 0, 0], repeated.eigenvalues, repeated.vectors, 'diagonal');
    assert.equal(Math.abs(repeated.vectors[0][3]), 1);

    // A zero in the middle of the off-diagonal splits T into two copies of tridiag(0.5, 1, 0.5) of size 4: each
    // eigenvalue 1 + cos(kπ/5) exactly twice, and any orthonormal pair in each eigenspace is correct.
    const block = toeplitz(1, 0.5, 4);
    const dd = [...block.d, ...block.d];
    const ee = [...block.e, 0, ...block.e];
    const split = tridiagonalEigenvectors(dd, ee);
    const exact = toeplitzEigen(1, 0.5, 4).eigenvalues.flatMap((x) => [x, x]);
    assert.ok(maxAbsDiff(split.eigenvalues, exact) <= VALUE_TOLERANCE * 2);
    assertTridiagonalEigenpairs(dd, ee, split.eigenvalues, split.vectors, 'two equal blocks');
  });

  it("resolves Wilkinson's W₂₁⁺, whose top eigenvalues agree to 7e-14, against bisection", () => {
    const d = range(21).map((i) => Math.abs(10 - i));
    const e = new Array<number>(20).fill(1);
    const { eigenvalues, vectors } = tridiagonalEigenvectors(d, e);
    const reference = bisectionEigenvalues(d, e);
    assert.ok(maxAbsDiff(eigenvalues, reference) <= VALUE_TOLERANCE * tridiagonalNorm(d, e));
    // Published value (Wilkinson, The Algebraic Eigenvalue Problem, §5.45): λ_max = 10.746194182903393.
    assert.ok(Math.abs(eigenvalues[20] - 10.746194182903393) < 1e-12);
    assert.ok(eigenvalues[20] - eigenvalues[19] < 1e-12);
    // The nearly equal pair still gets orthonormal vectors with small residuals.
    assertTridiagonalEigenpairs(d, e, eigenvalues, vectors, 'W21+');
  });

  it('scales with the matrix: the eigenvalues of sT are s times those of T, for s = 1e±150', () => {
    const { d, e } = randomTridiagonal(12, 13);
    const base = tridiagonalEigenRows(d, e, [0]);
    for (const s of [1e150, 1e-150]) {
      const scaled = tridiagonalEigenRows(
        d.map((x) => s * x),
        e.map((x) => s * x),
        [0],
      );
      const error = maxAbsDiff(
        scaled.eigenvalues.map((x) => x / s),
        base.eigenvalues,
      );
      assert.ok(error <= VALUE_TOLERANCE * tridiagonalNorm(d, e), `s=${s}: off by ${error}`);
      assert.ok(maxAbsDiff(scaled.rows[0].map(Math.abs), base.rows[0].map(Math.abs)) < 1e-12);
    }
  });

  it('refuses an off-diagonal that is too short', () => {
    assert.throws(() => tridiagonalEigenRows([1, 2, 3], [1], [0]), /off-diagonal needs length m − 1/);
  });
});
