/**
 * Verification of a method's result: a list of named checks, each comparing the result (or the machinery that
 * made it) with something computed independently, and `passed` as the AND of every check that could decide.
 * The checks themselves live in `checks/`, one per file; each method says which of its outputs to check.
 */
import type { CheckContext } from './checks/check.js';
import { directionalCheck, directionalVerificationCheck } from './checks/directional.js';
import { fisherProductCheck } from './checks/fisher-product.js';
import { productCheck } from './checks/product.js';
import { symmetryCheck } from './checks/symmetry.js';
import type { Rng } from './estimators/rng.js';
import type { MethodOutput } from './methods/method.js';
import type { Verification, VerificationCheck } from '../contract/types.js';

export { directionalCheck } from './checks/directional.js';

/**
 * Runs every check that applies to `output`, in this order:
 *   1. `directional_fd` on every result (the curvature machinery along a random v, seeded by `directionalRng`);
 *   2. `symmetry` on dense results;
 *   3. `full_ggn_product` on every GGN result, `fisher_product` on every Fisher result, and `product_fd` on
 *      Hessian results that state a product;
 *   4. the method's own checks (`output.verify`).
 * Products here use `ctx.operator`, outside the method's progress accounting.
 */
export async function verifyOutput(
  output: MethodOutput,
  ctx: CheckContext,
  directionalRng: Rng,
): Promise<Verification> {
  const { curvature } = output;
  const directional = await directionalCheck(
    ctx.objective,
    curvature,
    ctx.operator(curvature),
    directionalRng,
  );
  const checks = [directionalVerificationCheck(curvature, directional)];
  if (output.symmetryResidual !== undefined) {
    checks.push(symmetryCheck(output.symmetryResidual, output.symmetryTolerance));
  }
  const claimed = output.claimedProduct?.(ctx.rng);
  if (curvature === 'fisher') checks.push(await fisherProductCheck(ctx, claimed));
  else if (curvature === 'ggn' || claimed) checks.push(await productCheck(ctx, curvature, claimed));
  if (output.verify) checks.push(...(await output.verify(ctx)));
  const { inconclusive: _, ...directionalFields } = directional;
  return {
    ...summarizeChecks(checks),
    ...(output.symmetryResidual !== undefined && { symmetryResidual: output.symmetryResidual }),
    directional: directionalFields,
  };
}

/**
 * `passed` is the AND of the checks that are not inconclusive; each failed check adds a
 * `VERIFICATION FAILED` warning, each inconclusive one a note.
 */
export function summarizeChecks(
  checks: VerificationCheck[],
): Pick<Verification, 'passed' | 'checks' | 'warnings'> {
  const warnings: string[] = [];
  for (const c of checks) {
    if (c.inconclusive) warnings.push(`The ${c.name} check was inconclusive: ${c.detail}`);
    else if (!c.passed) {
      const limit = c.tolerance === null ? '' : ` (tolerance ${c.tolerance.toExponential(1)})`;
      warnings.push(`VERIFICATION FAILED: ${c.name}${limit}: ${c.detail}`);
    }
  }
  return { passed: checks.every((c) => c.inconclusive || c.passed), checks, warnings };
}
