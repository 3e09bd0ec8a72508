/**
 * Exact diagonal and trace of an operator from its products with the unit vectors: aᵢᵢ = eᵢᵀ A eᵢ, n products.
 * The reference the stochastic estimators are tested against, and the cheapest exact method when n is small
 * or no dense matrix is at hand.
 */
import { applyOperator, type LinearOperator } from './linear-operator.js';

/** diag(A) with n products A eᵢ; `onColumn` (may throw to cancel) runs after each one. */
export async function exactDiagonal(
  op: LinearOperator,
  onColumn?: (completed: number, total: number) => void | Promise<void>,
): Promise<Float64Array> {
  const n = op.size;
  const diagonal = new Float64Array(n);
  const e = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    e[i] = 1;
    // A copy per product: an operator may hold on to its argument (e.g. wrap it in a tensor lazily).
    diagonal[i] = (await applyOperator(op, Float64Array.from(e)))[i];
    e[i] = 0;
    await onColumn?.(i + 1, n);
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
