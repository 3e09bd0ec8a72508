import { norm } from '../estimators/dense-linalg.js';
import { applyBlock } from '../estimators/linear-operator.js';
import type { Curvature, Method, MethodContext, MethodOutput, SpecOf } from './method.js';
import { stackRows } from '../../contract/vectors.js';

/** k products; the first is checked against central differences along its own vector (product check). */
async function products(ctx: MethodContext, curvature: Curvature, file: string): Promise<MethodOutput> {
  const vectors = ctx.vectors!;
  const n = ctx.objective.numParams;
  ctx.progress.plan(vectors.length);
  const operator = ctx.operator(curvature);
  const rows = await applyBlock(operator, vectors);
  return {
    summary: { k: vectors.length, norms: rows.map(norm) },
    arrays: { [file]: { dtype: 'float32' as const, shape: [vectors.length, n], data: stackRows(rows, n) } },
    curvature,
    claimedProduct: () => ({ direction: vectors[0], product: rows[0], source: 'the first returned product' }),
  };
}

/** H·v for each of k vectors (k×P), reverse-over-reverse, several directions per pass (block products). */
export const hvp: Method<SpecOf<'hvp'>> = (ctx) => products(ctx, 'hessian', 'hvp.npy');

/** G·v for each of k vectors (k×P): J v by double backward, H_ℓ, then Jᵀ. */
export const ggnvp: Method<SpecOf<'ggnvp'>> = (ctx) => products(ctx, 'ggn', 'ggnvp.npy');

/** F·v for each of k vectors (k×P), with the Fisher of the request's fisherType (see operators/fisher-operator.ts). */
export const fvp: Method<SpecOf<'fvp'>> = (ctx) => products(ctx, 'fisher', 'fvp.npy');
