/**
 * Float64 algebra of Kronecker-factored blocks (tf-free). A layer's parameters in the order vec_row([W; b]) form an
 * m×n matrix V̄ (m = inSize: the kernel's input rows, then the bias row; n = outSize), row-major, and
 *
 *   (A ⊗ B) vec_row(V̄) = vec_row(A V̄ B)   (A, B symmetric),
 *   (A ⊗ B + s I)⁻¹ vec_row(V̄) = vec_row(Q_A [(Q_Aᵀ V̄ Q_B) ⊘ (λ_A λ_Bᵀ + s)] Q_Bᵀ)
 *
 * with A = Q_A diag(λ_A) Q_Aᵀ and B = Q_B diag(λ_B) Q_Bᵀ. θ stores a Dense layer's kernel [in, out] and bias [out] as
 * separate weights (each at its own offset), so V̄ is gathered from and scattered back to those offsets.
 */
import type { KfacLayer } from '../../contract/kfac-coverage.js';
import { symmetricEigen } from '../estimators/dense-linalg.js';

/** One layer's factors: K's block is A ⊗ B over the layer's parameters. */
export interface KroneckerFactors {
  layer: KfacLayer;
  /** inSize × inSize, row-major. */
  a: Float64Array;
  /** outSize × outSize, row-major. */
  b: Float64Array;
}

/** V̄ (inSize × outSize, row-major) of `layer` from a vector v over θ. */
export function gatherLayer(v: ArrayLike<number>, layer: KfacLayer): Float64Array {
  const { kernel, bias, inputs, units } = layer;
  const out = new Float64Array(layer.inSize * units);
  if (kernel) for (let i = 0; i < inputs * units; i++) out[i] = v[kernel.offset + i];
  if (bias) {
    const row = (kernel ? inputs : 0) * units;
    for (let o = 0; o < units; o++) out[row + o] = v[bias.offset + o];
  }
  return out;
}

/** Writes V̄ (inSize × outSize) of `layer` into its θ entries of `target`. */
export function scatterLayer(target: Float64Array, layer: KfacLayer, block: Float64Array): void {
  const { kernel, bias, inputs, units } = layer;
  if (kernel) for (let i = 0; i < inputs * units; i++) target[kernel.offset + i] = block[i];
  if (bias) {
    const row = (kernel ? inputs : 0) * units;
    for (let o = 0; o < units; o++) target[bias.offset + o] = block[row + o];
  }
}

/** X Y for X (p×q) and Y (q×r), row-major; with `transposeX`, X is given as q×p and Xᵀ is used. */
export function matmul(
  x: Float64Array,
  y: Float64Array,
  p: number,
  q: number,
  r: number,
  transposeX = false,
): Float64Array {
  const out = new Float64Array(p * r);
  for (let i = 0; i < p; i++) {
    const row = out.subarray(i * r, (i + 1) * r);
    for (let k = 0; k < q; k++) {
      const xik = transposeX ? x[k * p + i] : x[i * q + k];
      if (xik === 0) continue;
      const yk = k * r;
      for (let j = 0; j < r; j++) row[j] += xik * y[yk + j];
    }
  }
  return out;
}

function transpose(x: Float64Array, p: number, q: number): Float64Array {
  const out = new Float64Array(p * q);
  for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) out[j * p + i] = x[i * q + j];
  return out;
}

/** A V̄ B for A (m×m), V̄ (m×n), B (n×n; symmetric, so Bᵀ = B). */
export function kroneckerProduct(
  a: Float64Array,
  b: Float64Array,
  v: Float64Array,
  m: number,
  n: number,
): Float64Array {
  return matmul(matmul(a, v, m, m, n), b, m, n, n);
}

/** A symmetric factor's eigendecomposition: `values` ascending, Q row-major with eigenvector j as column j. */
export interface FactorEigen {
  size: number;
  values: Float64Array;
  q: Float64Array;
}

export function factorEigen(matrix: Float64Array, size: number): FactorEigen {
  const { eigenvalues, eigenvectors } = symmetricEigen(matrix, size);
  const q = new Float64Array(size * size);
  eigenvectors.forEach((vec, j) => vec.forEach((x, i) => (q[i * size + j] = x)));
  return { size, values: eigenvalues, q };
}

/** (A ⊗ B + shift·I)⁻¹ applied to V̄ (m×n), through the factors' eigendecompositions. */
export function kroneckerSolve(
  ea: FactorEigen,
  eb: FactorEigen,
  v: Float64Array,
  shift: number,
): Float64Array {
  const m = ea.size;
  const n = eb.size;
  const rotated = matmul(matmul(ea.q, v, m, m, n, true), eb.q, m, n, n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) rotated[i * n + j] /= ea.values[i] * eb.values[j] + shift;
  }
  return matmul(matmul(ea.q, rotated, m, m, n), transpose(eb.q, n, n), m, n, n);
}

/** K v = blockdiag(A_l ⊗ B_l) v: A V̄ B per layer, scattered back into θ's layout (entries of no layer stay 0). */
export function kfacApply(blocks: readonly KroneckerFactors[], v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  for (const { layer, a, b } of blocks) {
    scatterLayer(out, layer, kroneckerProduct(a, b, gatherLayer(v, layer), layer.inSize, layer.outSize));
  }
  return out;
}
