/**
 * Exact diagonal and trace of an operator from its products with the unit vectors: aᵢᵢ = eᵢᵀ A eᵢ, n products.
 * The reference the stochastic estimators are tested against, and the cheapest exact method when n is small
 * or no dense matrix is at hand.
 */
import { forEachColumnBlock, type LinearOperator } from './linear-operator.js';

/** diag(A) with n products A eᵢ, in blocks; `onColumn` (may throw to cancel) runs after each column. */
export async function exactDiagonal(
  op: LinearOperator,
  onColumn?: (completed: number, total: number) => void | Promise<void>,
): Promise<Float64Array> {
  return exactDiagonalRange(op, { start: 0, end: op.size }, onColumn);
}

/** Entries [start, end) of diag(A), as {@link exactDiagonal} computes them (start a multiple of the block size). */
export async function exactDiagonalRange(
  op: LinearOperator,
  range: { start: number; end: number },
  onColumn?: (completed: number, total: number) => void | Promise<void>,
): Promise<Float64Array> {
  const total = range.end - range.start;
  const diagonal = new Float64Array(total);
  await forEachColumnBlock(
    op,
    async (start, columns) => {
      for (let j = 0; j < columns.length; j++) {
        diagonal[start - range.start + j] = columns[j][start + j];
        await onColumn?.(start - range.start + j + 1, total);
      }
    },
    range,
  );
  return diagonal;
}

/** tr(A) = Σᵢ eᵢᵀ A eᵢ with n products, summed in compensated (Kahan) arithmetic. */
export async function exactTrace(
  op: LinearOperator,
  onColumn?: (completed: number, total: number) => void | Promise<void>,
): Promise<number> {
  return kahanSum(await exactDiagonal(op, onColumn));
}

/** Σ xᵢ in order, in compensated (Kahan) arithmetic. */
export function kahanSum(values: Float64Array): number {
  let sum = 0;
  let carry = 0;
  for (const d of values) {
    const y = d - carry;
    const t = sum + y;
    carry = t - sum - y;
    sum = t;
  }
  return sum;
}
