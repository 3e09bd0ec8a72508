import type { LinearOperator } from '../estimators/linear-operator.js';
import type { ParamLayout } from '../types.js';

export type Blocks = 'full' | 'layer' | 'weight';

/** Block id of each parameter: one block for `full`, one per layer or per weight tensor otherwise. */
export function blockIds(layout: ParamLayout[], blocks: Blocks): Int32Array {
  const size = layout.reduce((n, p) => n + p.size, 0);
  const ids = new Int32Array(size);
  if (blocks === 'full') return ids;
  const keys: string[] = [];
  for (const p of layout) {
    const key = blocks === 'layer' ? p.layer : p.name;
    let id = keys.indexOf(key);
    if (id < 0) id = keys.push(key) - 1;
    ids.fill(id, p.offset, p.offset + p.size);
  }
  return ids;
}

/**
 * Builds a dense symmetric matrix column by column, A e_j, keeping only entries inside the block of j. Returns
 * the raw matrix (row-major; column j stored as row j, exact for symmetric A up to rounding).
 */
export async function denseFromColumns(operator: LinearOperator, ids: Int32Array): Promise<Float32Array> {
  const n = operator.size;
  const matrix = new Float32Array(n * n);
  const unit = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    unit[j] = 1;
    const column = await operator.matvec(unit);
    unit[j] = 0;
    const row = matrix.subarray(j * n, (j + 1) * n);
    for (let i = 0; i < n; i++) if (ids[i] === ids[j]) row[i] = column[i];
  }
  return matrix;
}

/** ‖A − Aᵀ‖_F / ‖A‖_F. */
export function symmetryResidual(matrix: Float32Array, n: number): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = matrix[i * n + j];
      const d = a - matrix[j * n + i];
      diff += d * d;
      norm += a * a;
    }
  }
  return norm === 0 ? 0 : Math.sqrt(diff / norm);
}

/** (A + Aᵀ)/2 in place. */
export function symmetrize(matrix: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const mean = 0.5 * (matrix[i * n + j] + matrix[j * n + i]);
      matrix[i * n + j] = mean;
      matrix[j * n + i] = mean;
    }
  }
}
