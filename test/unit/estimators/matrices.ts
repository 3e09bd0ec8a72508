/** Dense float64 test matrices with known spectra, for the estimator tests (not itself a test file). */
import { thinQr } from '../../../src/engine/estimators/dense-linalg.js';
import type { LinearOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';

/** Q diag(eigenvalues) Qᵀ (row-major, exactly symmetric) with Q a seeded random orthogonal matrix. */
export function matrixWithSpectrum(eigenvalues: readonly number[], seed: number): Float64Array {
  const n = eigenvalues.length;
  const rng = createRng(seed);
  const { q } = thinQr(Array.from({ length: n }, () => rng.gaussianVector(n)));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += eigenvalues[k] * q[k][i] * q[k][j];
      a[i * n + j] = s;
      a[j * n + i] = s;
    }
  }
  return a;
}

/** A symmetric matrix with independent N(0, 1) entries on and below the diagonal. */
export function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = rng.normal();
      a[i * n + j] = x;
      a[j * n + i] = x;
    }
  }
  return a;
}

export function denseTrace(a: Float64Array, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i];
  return t;
}

export function denseMatvec(a: Float64Array, n: number, v: Float64Array): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i] += a[i * n + j] * v[j];
  return out;
}

/** Wraps an operator to count its products (and optionally fail at the given product, like a cancellation). */
export function counting(op: LinearOperator, failAt?: number): LinearOperator & { calls: number } {
  const wrapped = {
    size: op.size,
    calls: 0,
    async matvec(v: Float64Array) {
      wrapped.calls++;
      if (wrapped.calls === failAt) throw new Error('cancelled by test');
      return op.matvec(v);
    },
  };
  return wrapped;
}

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
