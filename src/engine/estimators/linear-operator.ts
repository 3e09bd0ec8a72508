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
  /**
   * Block product [A·v₁, …, A·v_k] in one computation (k directions carried together), for operators that have
   * one; callers go through `applyBlock`, which splits a block into chunks of `blockSize` and falls back to matvec.
   */
  matmat?(vs: readonly Float64Array[]): Promise<Float64Array[]>;
  /** Directions per matmat call (memory-bounded by the operator). */
  readonly blockSize?: number;
}

/** The largest chunk `applyBlock` passes to `op.matmat` (1 when it has none). */
export function blockSizeOf(op: LinearOperator): number {
  return op.matmat ? Math.max(1, op.blockSize ?? 1) : 1;
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
  return checkedProduct(op, await op.matvec(v));
}

/**
 * A·vᵢ for every vᵢ, by block products of at most `blockSizeOf(op)` directions (products one by one when the
 * operator has no matmat), each checked as by `applyOperator`.
 */
export async function applyBlock(op: LinearOperator, vs: readonly Float64Array[]): Promise<Float64Array[]> {
  const size = blockSizeOf(op);
  const out: Float64Array[] = [];
  for (let start = 0; start < vs.length; start += size) {
    const chunk = vs.slice(start, start + size);
    const products = op.matmat && chunk.length > 1 ? await op.matmat(chunk) : [await op.matvec(chunk[0])];
    if (products.length !== chunk.length) {
      throw new Error(`operator returned ${products.length} products for ${chunk.length} directions`);
    }
    for (const av of products) out.push(checkedProduct(op, av));
  }
  return out;
}

/**
 * The columns A eⱼ of A, in order, a block of unit vectors at a time: `onBlock(start, columns)` gets columns
 * start, start + 1, … (fresh unit vectors per product: an operator may hold on to its argument); only the columns of
 * `range` when given (its start a multiple of the block size, so that each block is the one a full pass computes).
 */
export async function forEachColumnBlock(
  op: LinearOperator,
  onBlock: (start: number, columns: Float64Array[]) => void | Promise<void>,
  range: { start: number; end: number } = { start: 0, end: op.size },
): Promise<void> {
  const n = op.size;
  const chunk = blockSizeOf(op);
  for (let start = range.start; start < range.end; start += chunk) {
    const units = Array.from({ length: Math.min(chunk, range.end - start) }, (_, j) => {
      const e = new Float64Array(n);
      e[start + j] = 1;
      return e;
    });
    await onBlock(start, await applyBlock(op, units));
  }
}

function checkedProduct(op: LinearOperator, av: Float64Array): Float64Array {
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
  const shift = (av: Float64Array, v: Float64Array) => {
    const out = new Float64Array(av.length);
    for (let i = 0; i < av.length; i++) out[i] = av[i] + delta * v[i];
    return out;
  };
  return {
    size: op.size,
    blockSize: op.blockSize,
    async matvec(v) {
      return shift(await op.matvec(v), v);
    },
    ...(op.matmat && {
      matmat: async (vs: readonly Float64Array[]) => (await op.matmat!(vs)).map((av, i) => shift(av, vs[i])),
    }),
  };
}

/** αA: e.g. a sum-reduced loss from a mean-reduced one, or −A to turn a smallest-eigenvalue search around. */
export function scaledOperator(op: LinearOperator, alpha: number): LinearOperator {
  if (alpha === 1) return op;
  const scale = (av: Float64Array) => av.map((x) => alpha * x);
  return {
    size: op.size,
    blockSize: op.blockSize,
    async matvec(v) {
      return scale(await op.matvec(v));
    },
    ...(op.matmat && {
      matmat: async (vs: readonly Float64Array[]) => (await op.matmat!(vs)).map(scale),
    }),
  };
}

/**
 * Gathers the products that independent computations running side by side (CG solves for several right-hand
 * sides, SLQ's Lanczos runs for several probes, each awaiting its own `matvec`) ask for in the same turn of the event
 * loop, and computes them as one block product (`applyBlock`). Each caller sees an ordinary operator.
 */
export function batchedOperator(op: LinearOperator): LinearOperator {
  if (blockSizeOf(op) === 1) return op;
  let pending: { v: Float64Array; resolve: (av: Float64Array) => void; reject: (e: unknown) => void }[] = [];
  const flush = async () => {
    const batch = pending;
    pending = [];
    try {
      const products = await applyBlock(
        op,
        batch.map((p) => p.v),
      );
      batch.forEach((p, i) => p.resolve(products[i]));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  };
  return {
    size: op.size,
    blockSize: op.blockSize,
    matmat: op.matmat,
    matvec: (v) =>
      new Promise<Float64Array>((resolve, reject) => {
        if (pending.length === 0) setImmediate(() => void flush());
        pending.push({ v, resolve, reject });
      }),
  };
}
