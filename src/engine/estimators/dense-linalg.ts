/**
 * Small dense float64 linear algebra for the estimators: vector kernels, a thin QR of a few tall columns, and
 * symmetric eigensolvers for the small matrices that Lanczos and tests produce. Tall matrices are arrays of
 * columns (each of length n), the natural shape for products with an operator; square matrices are row-major.
 */

/** xᵀy. */
export function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

/** ‖x‖₂, scaled so that huge or tiny entries do not overflow or underflow. */
export function norm(x: Float64Array): number {
  let scale = 0;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const t = x[i] / scale;
    s += t * t;
  }
  return scale * Math.sqrt(s);
}

/** y ← y + αx, in place; returns y. */
export function axpy(alpha: number, x: Float64Array, y: Float64Array): Float64Array {
  for (let i = 0; i < y.length; i++) y[i] += alpha * x[i];
  return y;
}

/** x ← αx, in place; returns x. */
export function scale(alpha: number, x: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) x[i] *= alpha;
  return x;
}

/**
 * Removes from w its components along the orthonormal columns q, so that w is orthogonal to them to working
 * precision even when it was nearly in their span: a second pass runs when the first removed more than a factor
 * √2 of w's norm (the DGKS criterion, Daniel–Gragg–Kaufman–Stewart 1976, as ARPACK does; "twice is enough":
 * Giraitis et al. 2005). In Lanczos the first pass removes only rounding-level components, so one pass is the rule.
 */
export function orthogonalizeAgainst(w: Float64Array, q: readonly Float64Array[]): Float64Array {
  for (let pass = 0; pass < 2; pass++) {
    const before = norm(w);
    for (const u of q) axpy(-dot(u, w), u, w);
    if (norm(w) > before / Math.SQRT2) break;
  }
  return w;
}

/** Thin QR of tall columns; see {@link thinQr}. */
export interface ThinQr {
  /** Orthonormal columns spanning the input columns; `rank` of them. */
  q: Float64Array[];
  /** rank × (number of input columns), row-major: column j = Σᵢ q[i]·r[i, j]. */
  r: Float64Array;
  rank: number;
}

/**
 * Thin QR by modified Gram–Schmidt with reorthogonalization. A column whose remainder after orthogonalization
 * is at most `rankTolerance` times the largest input column norm is treated as dependent and gets no column
 * of Q, so Q spans the numerical range exactly (what makes Hutch++ exact on low-rank matrices).
 */
export function thinQr(columns: readonly Float64Array[], rankTolerance = 1e-12): ThinQr {
  const k = columns.length;
  let maxNorm = 0;
  for (const c of columns) maxNorm = Math.max(maxNorm, norm(c));
  const q: Float64Array[] = [];
  const coefficients: number[][] = []; // coefficients[j][i] = q_iᵀ a_j
  for (const column of columns) {
    const w = Float64Array.from(column);
    const coef: number[] = [];
    for (let pass = 0; pass < 2; pass++) {
      q.forEach((u, i) => {
        const c = dot(u, w);
        axpy(-c, u, w);
        coef[i] = (coef[i] ?? 0) + c;
      });
    }
    const remainder = norm(w);
    if (remainder > rankTolerance * maxNorm) {
      coef[q.length] = remainder;
      q.push(scale(1 / remainder, w));
    }
    coefficients.push(coef);
  }
  const rank = q.length;
  const r = new Float64Array(rank * k);
  coefficients.forEach((coef, j) => coef.forEach((c, i) => (r[i * k + j] = c)));
  return { q, r, rank };
}

/** Eigenvalues in ascending order with their unit eigenvectors (`eigenvectors[i]` belongs to `eigenvalues[i]`). */
export interface SymmetricEigen {
  eigenvalues: Float64Array;
  eigenvectors: Float64Array[];
}

/**
 * Eigendecomposition of a dense symmetric n×n matrix (row-major; only symmetric matrices give meaningful
 * results): Householder tridiagonalization then implicit QL (tred2 + tql2 of EISPACK, as in JAMA). O(n³).
 */
export function symmetricEigen(matrix: Float64Array, n: number): SymmetricEigen {
  if (matrix.length !== n * n)
    throw new Error(`symmetricEigen: expected ${n}×${n} entries, got ${matrix.length}`);
  const v = Float64Array.from(matrix);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(v, d, e, n);
  tql2(d, e, v, n, n);
  return sortedColumns(d, v, n, n);
}

/**
 * Eigendecomposition of the symmetric tridiagonal matrix with the given diagonal (length m) and off-diagonal
 * (length m − 1), by implicit QL.
 */
export function symmetricTridiagonalEigen(
  diagonal: ArrayLike<number>,
  offDiagonal: ArrayLike<number>,
): SymmetricEigen {
  const m = diagonal.length;
  const rows = Array.from({ length: m }, (_, i) => i);
  const { eigenvalues, rows: z } = tridiagonalEigenRows(diagonal, offDiagonal, rows);
  const eigenvectors = Array.from({ length: m }, (_, i) => Float64Array.from(z, (row) => row[i]));
  return { eigenvalues, eigenvectors };
}

/**
 * Eigenvalues (ascending) of a symmetric tridiagonal matrix and only the requested rows of its eigenvector
 * matrix: `rows[r][i]` is component `rowIndices[r]` of eigenvector i. QL rotations act on each row on its own,
 * so one row costs O(m²) instead of O(m³) for all of them: Lanczos needs only the last row (residual
 * estimates) and quadrature only the first (weights).
 */
export function tridiagonalEigenRows(
  diagonal: ArrayLike<number>,
  offDiagonal: ArrayLike<number>,
  rowIndices: readonly number[],
): { eigenvalues: Float64Array; rows: Float64Array[] } {
  const m = diagonal.length;
  if (offDiagonal.length < m - 1) throw new Error('tridiagonal: off-diagonal needs length m − 1');
  const d = Float64Array.from(diagonal);
  const e = new Float64Array(m); // tql2 convention: e[i] couples i − 1 and i
  for (let i = 1; i < m; i++) e[i] = offDiagonal[i - 1];
  const r = rowIndices.length;
  const z = new Float64Array(r * m);
  rowIndices.forEach((row, k) => (z[k * m + row] = 1));
  tql2(d, e, z, m, r);
  const sorted = sortedColumns(d, z, m, r);
  return { eigenvalues: sorted.eigenvalues, rows: transposeColumns(sorted.eigenvectors, r) };
}

function transposeColumns(columns: Float64Array[], r: number): Float64Array[] {
  return Array.from({ length: r }, (_, k) => Float64Array.from(columns, (col) => col[k]));
}

/** Sorts eigenvalues ascending and returns the matching columns of the rows×n matrix z. */
function sortedColumns(d: Float64Array, z: Float64Array, n: number, rows: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  return {
    eigenvalues: Float64Array.from(order, (i) => d[i]),
    eigenvectors: order.map((i) => Float64Array.from({ length: rows }, (_, k) => z[k * n + i])),
  };
}

/** Householder reduction of the symmetric matrix in v to tridiagonal form, accumulating the transformation in v. */
function tred2(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (i: number, j: number) => i * n + j;
  for (let j = 0; j < n; j++) d[j] = v[at(n - 1, j)];
  for (let i = n - 1; i > 0; i--) {
    let scaleSum = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scaleSum += Math.abs(d[k]);
    if (scaleSum === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[at(i - 1, j)];
        v[at(i, j)] = 0;
        v[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scaleSum;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scaleSum * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[at(j, i)] = f;
        g = e[j] + v[at(j, j)] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[at(k, j)] * d[k];
          e[k] += v[at(k, j)] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) v[at(k, j)] -= f * e[k] + g * d[k];
        d[j] = v[at(i - 1, j)];
        v[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    v[at(n - 1, i)] = v[at(i, i)];
    v[at(i, i)] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[at(k, i + 1)] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[at(k, i + 1)] * v[at(k, j)];
        for (let k = 0; k <= i; k++) v[at(k, j)] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[at(k, i + 1)] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[at(n - 1, j)];
    v[at(n - 1, j)] = 0;
  }
  v[at(n - 1, n - 1)] = 1;
  e[0] = 0;
}

/**
 * Implicit QL with Wilkinson-like shifts on the tridiagonal (d, e) (e[i] couples i − 1 and i), applying the
 * rotations to the `rows` rows of z (row-major rows × n). On return d holds the eigenvalues (unsorted) and
 * z·(eigenvector matrix) replaces z.
 */
function tql2(d: Float64Array, e: Float64Array, z: Float64Array, n: number, rows: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = Number.EPSILON;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 60) throw new Error('tridiagonal eigensolver did not converge');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < rows; k++) {
            const row = k * n;
            h = z[row + i + 1];
            z[row + i + 1] = s * z[row + i] + c * h;
            z[row + i] = c * z[row + i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}
