/**
 * The one abstraction every estimator works on: a symmetric linear operator A of size n, known only through
 * products v ↦ A·v (as in curvlinops). Hessian, GGN and Fisher operators, dense test matrices and shifted or
 * scaled variants all satisfy it, so an estimator never knows which curvature it is estimating.
 */
import { EngineError } from '../../contract/errors.js';

/**
 * A symmetric linear operator of size n. `matvec` is async because each product may be a TF.js computation;
 * a caller's wrapper may report progress or cancel by throwing from `matvec`, and estimators let that error
 * propagate unchanged. `matvec` must not modify its argument and should return a fresh array.
 */
export interface LinearOperator {
  readonly size: number;
  matvec(v: Float64Array): Promise<Float64Array>;
}

/**
 * Computes A·v and checks the product: an operator returning the wrong length is a programming error, and a
 * non-finite product (a NaN in the loss, an overflow) would otherwise turn every downstream estimate into NaN
 * without a word.
 *
 * @throws Error when the product has the wrong length.
 * @throws EngineError('invalid_array') when the product contains NaN or ±Infinity.
 */
export async function applyOperator(op: LinearOperator, v: Float64Array): Promise<Float64Array> {
  const av = await op.matvec(v);
  if (av.length !== op.size) {
    throw new Error(`operator of size ${op.size} returned a product of length ${av.length}`);
  }
  for (let i = 0; i < av.length; i++) {
    if (!Number.isFinite(av[i])) {
      throw new EngineError(
        'invalid_array',
        `the curvature-vector product is not finite (entry ${i} is ${av[i]})`,
        {
          index: i,
          value: String(av[i]),
        },
      );
    }
  }
  return av;
}

/**
 * A dense n×n matrix (row-major) as an operator. The matrix is used as given: symmetrize it first if it is
 * only approximately symmetric, since estimators assume symmetry.
 *
 * @throws Error when `matrix.length !== n * n`.
 */
export function denseOperator(matrix: Float64Array, n: number): LinearOperator {
  if (!Number.isInteger(n) || n < 1 || matrix.length !== n * n) {
    throw new Error(`denseOperator: expected an n×n matrix with n=${n}, got ${matrix.length} entries`);
  }
  return {
    size: n,
    async matvec(v) {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        const row = i * n;
        for (let j = 0; j < n; j++) s += matrix[row + j] * v[j];
        out[i] = s;
      }
      return out;
    },
  };
}

/** A + δI: used for damped solves and to move a spectrum without a new operator. */
export function shiftedOperator(op: LinearOperator, delta: number): LinearOperator {
  if (delta === 0) return op;
  return {
    size: op.size,
    async matvec(v) {
      const av = await op.matvec(v);
      const out = new Float64Array(av.length);
      for (let i = 0; i < av.length; i++) out[i] = av[i] + delta * v[i];
      return out;
    },
  };
}

/** αA: e.g. a sum-reduced loss from a mean-reduced one, or −A to turn a smallest-eigenvalue search around. */
export function scaledOperator(op: LinearOperator, alpha: number): LinearOperator {
  if (alpha === 1) return op;
  return {
    size: op.size,
    async matvec(v) {
      const av = await op.matvec(v);
      const out = new Float64Array(av.length);
      for (let i = 0; i < av.length; i++) out[i] = alpha * av[i];
      return out;
    },
  };
}
