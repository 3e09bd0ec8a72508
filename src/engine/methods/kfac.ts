import { ARTIFACT_SEGMENT_RULE } from '../../contract/artifact-names.js';
import { EngineError } from '../../contract/errors.js';
import { planKfac } from '../../contract/kfac-coverage.js';
import type { Float32NdArray } from '../../contract/ndarray.js';
import { stackRows } from '../../contract/vectors.js';
import { kfacInverseResidualCheck, kfacSingleExampleCheck } from '../checks/kfac.js';
import { buildKfac, type KfacColumns } from '../curvature/kfac.js';
import {
  factorEigen,
  gatherLayer,
  kfacApply,
  kroneckerSolve,
  scatterLayer,
  type FactorEigen,
  type KroneckerFactors,
} from '../curvature/kronecker.js';
import { axpy } from '../estimators/dense-linalg.js';
import type { MethodContext, MethodOutput, SpecOf } from './method.js';
import { splitOrWhole, type PartialResult, type SplitMethod } from './split.js';

/** A factor whose smallest eigenvalue is at most this fraction of its largest is singular at float32 precision. */
export const SINGULAR_RTOL = 1e-6;

/** The partial result's array names of covered layer `i`'s factors (storage-safe segments, `pieces/<i>/A_0.npy`). */
const factorNames = (i: number) => ({ a: `A_${i}`, b: `B_${i}` });

/**
 * KFAC in pieces: its one unit is the factors, so only groups of examples (a job's datasets) spread it. `run`
 * computes every covered layer's A and B (float64) on its examples; `finish` makes everything else from the
 * (possibly example-weighted, summed) factors. The pieces of groups g of N_g examples (loss: the group's share, its
 * own mean or sum) add up with weights w_g = N_g/N (mean) or 1 (sum) to the whole batch's factors because each
 * partial factor carries the loss's per-example weight s_g = 1/N_g (mean) or 1 (sum):
 *
 * - B_g = s_g Σ_{n∈g} Σ_c δ δᵀ (the loss's reduction scale is built into the factor columns), so
 *   Σ_g w_g B_g = s Σ_n Σ_c δ δᵀ = B, with s = 1/N (mean) or 1 (sum);
 * - A is a mean over examples whatever the reduction, so the partial array is s_g Σ_{n∈g} ā āᵀ (A_g itself for
 *   mean, N_g·A_g for sum): Σ_g w_g of it is s Σ_n ā āᵀ, and `finish` divides by s·N (1 for mean, N for sum). For a
 *   single run the product and quotient by N are exact in float64 (A is float32-valued, N < 2²⁹), so the factors
 *   are the single run's bit for bit.
 *
 * The Monte-Carlo B samples its targets from one seeded stream over the whole batch: not additive. l2 is not in
 * the factors; `finish` adds it once, from its own (the whole batch's) objective.
 */
export const kfacSplit: SplitMethod<SpecOf<'kfac'>> = {
  plan: () => ({ unit: 'factors', units: 1, chunk: 1 }),

  async run(ctx, spec, start, end) {
    const { objective, problem } = ctx;
    if (!problem) throw new Error('kfac needs the request (model, batch and loss) in its method context');
    const plan = planKfac(problem.model, problem.loss, objective.layout);
    const columns: KfacColumns =
      spec.type === 'mc' ? { type: 'mc', samples: spec.samples, rng: ctx.rng } : { type: 'exact' };
    const engine = buildKfac(plan, problem, objective.theta);
    let factors: KroneckerFactors[];
    try {
      // The finishing step's unit (the products and solves) is planned here too, as a single run always has.
      ctx.progress.plan(engine.chunks(columns) + (ctx.vectors ? 1 : 0));
      factors = await engine.factors(columns, () => ctx.progress.unit());
    } finally {
      engine.dispose();
    }
    const examples = plan.loss.reduction === 'sum' ? engine.numExamples : 1;
    const arrays: PartialResult['arrays'] = {};
    factors.forEach(({ layer, a, b }, i) => {
      const names = factorNames(i);
      if (examples !== 1) for (let j = 0; j < a.length; j++) a[j] *= examples;
      arrays[names.a] = { dtype: 'float64', shape: [layer.inSize, layer.inSize], data: a };
      arrays[names.b] = { dtype: 'float64', shape: [layer.outSize, layer.outSize], data: b };
    });
    return { start, end, values: {}, arrays };
  },

  // Exact factors are per-example sums with the loss's weight (see above); sampled targets are one stream.
  additive: (_ctx, spec) => spec.type !== 'mc',

  finish: (ctx, spec, parts) => kfacOutput(ctx, spec, parts),
};

/**
 * KFAC, a Kronecker-factored approximation of the GGN (curvlinops' convention): per covered Dense layer, A (the
 * layer inputs' second moment, bias column last) and B (the backpropagated loss-Hessian factor's outer products, the
 * loss's reduction scale included), with K = blockdiag(A_l ⊗ B_l) (+ l2·I) approximating G; exact for one example.
 * `type: 'exact'` backpropagates the C columns of the exact loss-Hessian factor per example, `type: 'mc'` the loss
 * gradients at `samples` targets per example sampled from the model (seeded), an unbiased estimate of the same B.
 * With vectors: K v, and (K + damping·I)⁻¹ v by the factors' eigendecompositions. See docs/engine.md.
 */
export const kfac = splitOrWhole(kfacSplit);

/** The method's output from the factors of the pieces (one, or the example-weighted sum of several groups'). */
async function kfacOutput(
  ctx: MethodContext,
  spec: SpecOf<'kfac'>,
  parts: PartialResult[],
): Promise<MethodOutput> {
  const { objective, problem } = ctx;
  if (!problem) throw new Error('kfac needs the request (model, batch and loss) in its method context');
  const plan = planKfac(problem.model, problem.loss, objective.layout);
  const vectors = ctx.vectors;
  if (parts.length !== 1) throw new Error(`kfac combines one part (its factors), not ${parts.length}`);
  const [part] = parts;
  // The partial A carries the loss's per-example weight: 1/N for a mean, 1 for a sum (see kfacSplit).
  const examples = plan.loss.reduction === 'sum' ? objective.numExamples : 1;
  const factorOf = (name: string, size: number): Float64Array => {
    const array = part.arrays[name];
    if (
      !array ||
      (array.dtype !== 'float32' && array.dtype !== 'float64') ||
      array.data.length !== size * size
    ) {
      throw new Error(`the kfac pieces have no ${size}×${size} float array ${name}`);
    }
    return Float64Array.from(array.data as Float32Array | Float64Array);
  };
  const factors: KroneckerFactors[] = plan.layers.map((layer, i) => {
    const names = factorNames(i);
    const a = factorOf(names.a, layer.inSize);
    if (examples !== 1) for (let j = 0; j < a.length; j++) a[j] /= examples;
    return { layer, a, b: factorOf(names.b, layer.outSize) };
  });

  // K is what the returned float32 factors define: everything below works from those values.
  const arrays: Record<string, Float32NdArray> = {};
  const blocks: KroneckerFactors[] = factors.map(({ layer, a, b }) => {
    const a32 = Float32Array.from(a);
    const b32 = Float32Array.from(b);
    arrays[`${layer.directory}/A.npy`] = { dtype: 'float32', shape: [layer.inSize, layer.inSize], data: a32 };
    arrays[`${layer.directory}/B.npy`] = {
      dtype: 'float32',
      shape: [layer.outSize, layer.outSize],
      data: b32,
    };
    return { layer, a: Float64Array.from(a32), b: Float64Array.from(b32) };
  });
  const perExample = spec.type === 'mc' ? spec.samples : plan.outputs;
  const summary: Record<string, unknown> = {
    curvature: 'ggn',
    approximation: true,
    algorithm: 'kfac',
    type: spec.type,
    ...(spec.type === 'mc' && { samples: spec.samples }),
    damping: spec.damping,
    note:
      'KFAC approximates the GGN: one Kronecker product A ⊗ B per Dense layer, no blocks between layers, ' +
      'exact only when every example has the same layer input (e.g. a single example).' +
      (spec.type === 'mc'
        ? ` B is a Monte-Carlo estimate from ${spec.samples} target(s) per example sampled from the model's ` +
          'predictive distribution (seeded by `seed`); its error shrinks like 1/√samples.'
        : ''),
    artifactNames: `kfac/${ARTIFACT_SEGMENT_RULE} (the index counts the covered Dense layers), then A.npy and B.npy`,
    layers: factors.map(({ layer }) => ({
      layer: layer.name,
      index: layer.index,
      directory: layer.directory,
      arrays: { A: `${layer.directory}/A.npy`, B: `${layer.directory}/B.npy` },
      parameters: [layer.kernel, layer.bias].filter((p) => p !== null).map((p) => p.name),
      inSize: layer.inSize,
      outSize: layer.outSize,
      bias: layer.bias !== null,
      type: spec.type,
      samples: spec.type === 'mc' ? spec.samples : null,
      columnsPerExample: perExample,
    })),
  };

  if (!vectors) {
    return {
      summary,
      arrays,
      curvature: 'ggn',
      verify: async (check) => [await kfacSingleExampleCheck(check, plan, problem)],
    };
  }

  const n = objective.numParams;
  const l2 = objective.l2;
  const products = vectors.map((v) => (l2 > 0 ? axpy(l2, v, kfacApply(blocks, v)) : kfacApply(blocks, v)));

  // (K + δI)⁻¹ with K = blockdiag(A ⊗ B) + l2·I: per layer, the eigenvalues λ_A λ_Bᵀ + l2 + δ.
  const shift = l2 + spec.damping;
  const eigen: [FactorEigen, FactorEigen][] = blocks.map(({ layer, a, b }) => {
    const pair: [FactorEigen, FactorEigen] = [factorEigen(a, layer.inSize), factorEigen(b, layer.outSize)];
    if (shift === 0) {
      pair.forEach((e, i) => {
        const max = e.values[e.size - 1];
        const min = e.values[0];
        if (!(min > SINGULAR_RTOL * max)) {
          throw new EngineError(
            'invalid_method',
            `kfac: factor ${i === 0 ? 'A' : 'B'} of layer ${JSON.stringify(layer.name)} is singular ` +
              `(smallest eigenvalue ${min.toExponential(2)}, largest ${max.toExponential(2)}), so K has no ` +
              `inverse and inverse_products need damping: pass damping > 0 (about 1e-3 · ` +
              `λmax(A)·λmax(B) = ${(1e-3 * pair[0].values[pair[0].size - 1] * pair[1].values[pair[1].size - 1]).toExponential(1)} ` +
              `for this layer is a common start).`,
            { layer: layer.name, factor: i === 0 ? 'A' : 'B', smallest: min, largest: max },
          );
        }
      });
    }
    return pair;
  });
  let conditionNumber = 1;
  eigen.forEach(([ea, eb], l) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of ea.values) {
      for (const y of eb.values) {
        lo = Math.min(lo, x * y + shift);
        hi = Math.max(hi, x * y + shift);
      }
    }
    if (!(lo > 0)) {
      throw new EngineError(
        'invalid_method',
        `kfac: K + ${spec.damping}·I is not positive definite on layer ${JSON.stringify(blocks[l].layer.name)} ` +
          `at float32 precision (smallest eigenvalue ${lo.toExponential(2)}); pass a larger damping.`,
        { layer: blocks[l].layer.name, smallest: lo },
      );
    }
    conditionNumber = Math.max(conditionNumber, hi / lo);
  });
  const solutions = vectors.map((v) => {
    const x = new Float64Array(n);
    blocks.forEach(({ layer }, l) =>
      scatterLayer(x, layer, kroneckerSolve(eigen[l][0], eigen[l][1], gatherLayer(v, layer), shift)),
    );
    return x;
  });
  await ctx.progress.unit();

  const inverse = stackRows(solutions, n);
  arrays['products.npy'] = { dtype: 'float32', shape: [vectors.length, n], data: stackRows(products, n) };
  arrays['inverse_products.npy'] = { dtype: 'float32', shape: [vectors.length, n], data: inverse };
  summary.k = vectors.length;
  summary.inverse = { damping: spec.damping, l2, conditionNumber };
  return {
    summary,
    arrays,
    curvature: 'ggn',
    verify: async (check) => [
      await kfacSingleExampleCheck(check, plan, problem),
      kfacInverseResidualCheck(blocks, {
        shift,
        rhs: vectors,
        solutions: solutions.map((_, i) => Float64Array.from(inverse.subarray(i * n, (i + 1) * n))),
        conditionNumber,
      }),
    ],
  };
}
