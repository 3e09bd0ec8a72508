import { norm } from '../estimators/dense-linalg.js';
import { applyBlock, blockSizeOf } from '../estimators/linear-operator.js';
import type { Curvature, Method, MethodContext, MethodOutput, SpecOf } from './method.js';
import { additiveCurvature, concatParts, type SplitMethod, splitOrWhole } from './split.js';
import { stackRows } from '../../contract/vectors.js';

type ProductSpec = SpecOf<'hvp'> | SpecOf<'ggnvp'> | SpecOf<'fvp'>;

/** The output of the k products A vᵢ (float64 rows); the first is checked against central differences along its
 *  own vector (product check). */
function productsOutput(
  ctx: MethodContext,
  rows: Float64Array[],
  curvature: Curvature,
  file: string,
): MethodOutput {
  const vectors = ctx.vectors!;
  const n = ctx.objective.numParams;
  return {
    summary: { k: vectors.length, norms: rows.map(norm) },
    arrays: { [file]: { dtype: 'float32' as const, shape: [vectors.length, n], data: stackRows(rows, n) } },
    curvature,
    claimedProduct: () => ({ direction: vectors[0], product: rows[0], source: 'the first returned product' }),
  };
}

/** The k products in one run, in block products of the operator's block size (the route of a single vector). */
function products<S extends ProductSpec>(curvature: Curvature, file: string): Method<S> {
  return async (ctx: MethodContext) => {
    const vectors = ctx.vectors!;
    ctx.progress.plan(vectors.length);
    return productsOutput(ctx, await applyBlock(ctx.operator(curvature), vectors), curvature, file);
  };
}

/**
 * Several vectors' products in pieces of whole blocks (the operator's block size): a piece holds its vectors'
 * products as float64 rows, so the combined rows, their norms and the first product checked are the single run's.
 * One vector is one product and runs whole.
 */
function productsSplit<S extends ProductSpec>(curvature: Curvature, file: string): SplitMethod<S> {
  return {
    plan(ctx) {
      const k = ctx.vectors!.length;
      return k > 1 ? { unit: 'vectors', units: k, chunk: blockSizeOf(ctx.operator(curvature)) } : null;
    },
    async run(ctx, _spec, start, end) {
      const n = ctx.objective.numParams;
      ctx.progress.plan(end - start);
      const rows = await applyBlock(ctx.operator(curvature), ctx.vectors!.slice(start, end));
      return {
        start,
        end,
        values: {},
        arrays: { rows: { dtype: 'float64', shape: [end - start, n], data: stackFloat64(rows, n) } },
      };
    },
    // A product is a sum over examples (the Monte-Carlo Fisher's is not: one stream of sampled targets).
    additive: (_ctx, spec) => additiveCurvature(curvature, spec as { fisherType?: string }),
    async finish(ctx, _spec, parts) {
      const n = ctx.objective.numParams;
      const stacked = concatParts(parts, 'rows') as Float64Array;
      const rows = Array.from({ length: stacked.length / n }, (_, i) => stacked.slice(i * n, (i + 1) * n));
      return productsOutput(ctx, rows, curvature, file);
    },
  };
}

/** Rows of length n stacked into one float64 array. */
function stackFloat64(rows: readonly Float64Array[], n: number): Float64Array {
  const out = new Float64Array(rows.length * n);
  rows.forEach((r, i) => out.set(r, i * n));
  return out;
}

export const hvpSplit = productsSplit<SpecOf<'hvp'>>('hessian', 'hvp.npy');
export const ggnvpSplit = productsSplit<SpecOf<'ggnvp'>>('ggn', 'ggnvp.npy');
export const fvpSplit = productsSplit<SpecOf<'fvp'>>('fisher', 'fvp.npy');

/** H·v for each of k vectors (k×P), reverse-over-reverse, several directions per pass (block products). */
export const hvp = splitOrWhole(hvpSplit, products('hessian', 'hvp.npy'));

/** G·v for each of k vectors (k×P): J v by double backward, H_ℓ, then Jᵀ. */
export const ggnvp = splitOrWhole(ggnvpSplit, products('ggn', 'ggnvp.npy'));

/** F·v for each of k vectors (k×P), with the Fisher of the request's fisherType (see operators/fisher-operator.ts). */
export const fvp = splitOrWhole(fvpSplit, products('fisher', 'fvp.npy'));
