/**
 * Exact diagonal and trace of an operator from its products with the unit vectors: aᵢᵢ = eᵢᵀ A eᵢ, n products.
 * The reference the stochastic estimators are tested against, and the cheapest exact method when n is small
 * or no dense matrix is at hand.
 */
import { applyBlock, blockSizeOf, type LinearOperator } from './linear-operator.js';

/** diag(A) with n products A eᵢ, in blocks; `onColumn` (may throw to cancel) runs after each column. */
export async function exactDiagonal(
  op: LinearOperator,
  onColumn?: (completed: number, total: number) => void | Promise<void>,
): Promise<Float64Array> {
  const n = op.size;
  const diagonal = new Float64Array(n);
  const chunk = blockSizeOf(op);
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    // Fresh unit vectors per product: an operator may hold on to its argument (e.g. wrap it in a tensor lazily).
    const units = Array.from({ length: count }, (_, j) => {
      const e = new Float64Array(n);
      e[start + j] = 1;
      return e;
    });
    const columns = await applyBlock(op, units);
    for (let j = 0; j < count; j++) {
      diagonal[start + j] = columns[j][start + j];
      await onColumn?.(start + j + 1, n);
    }
  }
  return diagonal;
}

/** tr(A) = Σᵢ eᵢᵀ A eᵢ with n products, summed in compensated (Kahan) arithmetic. */
export async function exactTrace(
  op: LinearOperator,
  onColumn?: (completed: number, total: number) => void | Promise<void>,
): Promise<number> {
  const diagonal = await exactDiagonal(op, onColumn);
  let sum = 0;
  let carry = 0;
  for (const d of diagonal) {
    const y = d - carry;
    const t = sum + y;
    carry = t - sum - y;
    sum = t;
  }
  return sum;
}
