import { norm } from '../estimators/dense-linalg.js';
import {
  fisherProductByExamples,
  FISHER_CHECK_MAX_PASSES,
  type FisherOperator,
} from '../operators/fisher-operator.js';
import type { VerificationCheck } from '../../contract/types.js';
import { judged, relativeDistance, sci, type CheckContext } from './check.js';
import { randomUnit } from './differences.js';
import type { ClaimedProduct } from './product.js';

/** float32 products against a float64 sum of N·m first-order gradients: agreement to ~1e-6 is typical. */
export const FISHER_PRODUCT_TOLERANCE = 1e-4;

/**
 * `fisher_product`: F v from the result (its claimed product, or a fresh operator product along a random unit v)
 * against Σ_{n,j} g_{n,j} (g_{n,j}ᵀ v) + l2·v from the per-example gradients g_{n,j} = J_nᵀ q_{n,j}: first-order
 * reverse passes only, so an error in the operator's double-backward J v or its block products shows. Inconclusive
 * (not run) beyond FISHER_CHECK_MAX_PASSES passes. Cost: N·m reverse passes.
 */
export async function fisherProductCheck(
  ctx: CheckContext,
  claimed?: ClaimedProduct,
): Promise<VerificationCheck> {
  const operator = ctx.operator('fisher') as FisherOperator;
  const factor = operator.factor();
  const direction = claimed?.direction ?? randomUnit(ctx.rng, ctx.objective.numParams);
  const passes = ctx.objective.numExamples * factor.columns;
  const reference = fisherProductByExamples(ctx.objective, factor, direction);
  if (!reference) {
    return judged(
      'fisher_product',
      0,
      FISHER_PRODUCT_TOLERANCE,
      `Not run: ${passes} per-example passes exceed ${FISHER_CHECK_MAX_PASSES}.`,
      {
        inconclusive: true,
      },
    );
  }
  const product = claimed?.product ?? (await operator.matvec(direction));
  const error = norm(reference) === 0 ? norm(product) : relativeDistance(product, reference);
  return judged(
    'fisher_product',
    error,
    FISHER_PRODUCT_TOLERANCE,
    `F v from ${claimed?.source ?? 'the fisher operator'} against the sum over ${passes} per-example gradients ` +
      `(first-order passes only): relative error ${sci(error)}.`,
  );
}
