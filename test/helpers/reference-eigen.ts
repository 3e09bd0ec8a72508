/**
 * Float64 symmetric eigensolvers written for the tests, independent of src/engine/estimators/dense-linalg.ts
 * (which uses Householder tridiagonalization and implicit QL): cyclic Jacobi rotations for dense matrices,
 * Sturm-sequence bisection for tridiagonal eigenvalues, and inverse iteration with a Gaussian-elimination solve
 * for eigenvectors. Slow (O(n³) per Jacobi sweep, O(n) per bisection step) and plain on purpose: each is a few
 * lines of textbook arithmetic that shares nothing with the code under test.
 */

/** Eigenvalues ascending, `eigenvectors[i]` (unit norm) belonging to `eigenvalues[i]`. */
export interface ReferenceEigen {
  eigenvalues: Float64Array;
  eigenvectors: Float64Array[];
}

/**
 * All eigenpairs of the dense symmetric n×n row-major matrix `matrix` by cyclic Jacobi rotations (Golub & Van
 * Loan, Algorithm 8.5.3), sweeping until the off-diagonal Frobenius norm is below 1e-15·‖A‖_F. Each rotation
 * zeroes one off-diagonal pair exactly; the eigenvalues come out with absolute error of a few ε·‖A‖_F.
 *
 * @throws Error when 60 sweeps do not converge (never for a symmetric matrix; quadratic convergence takes ~10).
 */
export function jacobiEigen(matrix: ArrayLike<number>, n: number): ReferenceEigen {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let frobenius = 0;
  for (const x of a) frobenius += x * x;
  const target = 1e-15 * Math.sqrt(frobenius);
  const offNorm = () => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += a[i * n + j] ** 2;
    return Math.sqrt(s);
  };
  let sweeps = 0;
  while (offNorm() > target) {
    if (++sweeps > 60) throw new Error('jacobiEigen: no convergence');
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // Rotation angle with tan θ = t chosen as the smaller root, so |θ| ≤ π/4 (stable).
        const tau = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        // A ← JᵀAJ: columns p and q, then rows p and q.
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        // V ← VJ: column i of V is the eigenvector of the final a[i, i].
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i] - a[j * n + j]);
  return {
    eigenvalues: Float64Array.from(order, (i) => a[i * n + i]),
    eigenvectors: order.map((i) => Float64Array.from({ length: n }, (_, k) => v[k * n + i])),
  };
}

/**
 * The number of eigenvalues below x of the symmetric tridiagonal matrix (diagonal d, off-diagonal e): by
 * Sylvester's law of inertia, the number of negative pivots of the LDLᵀ factorization of T − xI,
 * q₀ = d₀ − x, qᵢ = dᵢ − x − eᵢ₋₁²/qᵢ₋₁ (a zero pivot is replaced by a tiny negative one, as in LAPACK's dstebz).
 */
export function sturmCount(d: ArrayLike<number>, e: ArrayLike<number>, x: number): number {
  let count = 0;
  let q = 1;
  for (let i = 0; i < d.length; i++) {
    q = d[i] - x - (i > 0 ? (e[i - 1] * e[i - 1]) / q : 0);
    if (q === 0) q = -Number.MIN_VALUE * 1e10;
    if (q < 0) count++;
  }
  return count;
}

/** Max row sum of |T|: a bound on ‖T‖₂ and a Gershgorin radius. */
export function tridiagonalNorm(d: ArrayLike<number>, e: ArrayLike<number>): number {
  let norm = 0;
  for (let i = 0; i < d.length; i++) {
    const left = i > 0 ? Math.abs(e[i - 1]) : 0;
    const right = i < d.length - 1 ? Math.abs(e[i]) : 0;
    norm = Math.max(norm, Math.abs(d[i]) + left + right);
  }
  return norm;
}

/**
 * All eigenvalues (ascending) of a symmetric tridiagonal matrix by bisection on Sturm counts: the k-th is the
 * x where the count of eigenvalues below x passes k. Each is bisected inside the Gershgorin interval until the
 * bracket cannot shrink in float64, so its error is the backward error of the count, a few ε·‖T‖.
 */
export function bisectionEigenvalues(d: ArrayLike<number>, e: ArrayLike<number>): Float64Array {
  const m = d.length;
  const radius = tridiagonalNorm(d, e);
  const out = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    // Invariant: count(lo) ≤ k < count(hi), i.e. the (k+1)-th smallest eigenvalue lies in [lo, hi).
    let lo = -radius - 1e-300;
    let hi = radius + Math.max(radius * 1e-15, 1e-300);
    for (;;) {
      const mid = lo + (hi - lo) / 2;
      if (mid <= lo || mid >= hi) break;
      if (sturmCount(d, e, mid) <= k) lo = mid;
      else hi = mid;
    }
    out[k] = lo + (hi - lo) / 2;
  }
  return out;
}

/** Solves the dense n×n system M x = b by Gaussian elimination with partial pivoting (a zero pivot is nudged). */
export function solveDense(matrix: ArrayLike<number>, n: number, b: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(matrix);
  const x = Float64Array.from(b);
  let scale = 0;
  for (const v of a) scale = Math.max(scale, Math.abs(v));
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]) > Math.abs(a[pivot * n + col])) pivot = r;
    if (pivot !== col) {
      for (let k = 0; k < n; k++) [a[col * n + k], a[pivot * n + k]] = [a[pivot * n + k], a[col * n + k]];
      [x[col], x[pivot]] = [x[pivot], x[col]];
    }
    if (a[col * n + col] === 0) a[col * n + col] = Number.EPSILON * Math.max(scale, Number.MIN_VALUE);
    for (let r = col + 1; r < n; r++) {
      const f = a[r * n + col] / a[col * n + col];
      if (f === 0) continue;
      for (let k = col; k < n; k++) a[r * n + k] -= f * a[col * n + k];
      x[r] -= f * x[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= a[r * n + k] * x[k];
    x[r] = s / a[r * n + r];
  }
  return x;
}

/**
 * A unit eigenvector of the dense symmetric matrix for the (accurately known, simple) eigenvalue λ, by three
 * steps of inverse iteration with A − λI from a fixed non-special start: each step multiplies the wanted
 * component by 1/|λ − λ_true| ≈ 1/(ε‖A‖) against 1/gap for the others.
 */
export function inverseIteration(matrix: ArrayLike<number>, n: number, lambda: number): Float64Array {
  const shifted = Float64Array.from(matrix);
  for (let i = 0; i < n; i++) shifted[i * n + i] -= lambda;
  let x: Float64Array = Float64Array.from({ length: n }, (_, i) => 1 + Math.sin(3.7 * i + 0.3));
  for (let step = 0; step < 3; step++) {
    x = solveDense(shifted, n, x);
    const length = Math.hypot(...x);
    x = x.map((v) => v / length);
  }
  return x;
}

/** The dense row-major matrix of the symmetric tridiagonal (d, e). */
export function tridiagonalToDense(d: ArrayLike<number>, e: ArrayLike<number>): Float64Array {
  const m = d.length;
  const t = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    t[i * m + i] = d[i];
    if (i < m - 1) t[i * m + i + 1] = t[(i + 1) * m + i] = e[i];
  }
  return t;
}

/** T x for the symmetric tridiagonal (d, e), written out: (Tx)ᵢ = eᵢ₋₁xᵢ₋₁ + dᵢxᵢ + eᵢxᵢ₊₁. */
export function tridiagonalMatvec(
  d: ArrayLike<number>,
  e: ArrayLike<number>,
  x: ArrayLike<number>,
): Float64Array {
  const m = d.length;
  return Float64Array.from({ length: m }, (_, i) => {
    let s = d[i] * x[i];
    if (i > 0) s += e[i - 1] * x[i - 1];
    if (i < m - 1) s += e[i] * x[i + 1];
    return s;
  });
}
