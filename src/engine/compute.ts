import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from './backend.js';
import { createRng } from './estimators/rng.js';
import type { LinearOperator } from './estimators/linear-operator.js';
import { density } from './methods/density.js';
import { diagonalEstimate } from './methods/diagonal-estimate.js';
import { diagonal } from './methods/diagonal.js';
import { eigen } from './methods/eigen.js';
import { finiteDifference } from './methods/finite-difference.js';
import { ggn } from './methods/ggn.js';
import { hessian } from './methods/hessian.js';
import { fisher } from './methods/fisher.js';
import { fvp, ggnvp, hvp } from './methods/hvp.js';
import { inverseHvp } from './methods/inverse-hvp.js';
import { kfac } from './methods/kfac.js';
import { trace } from './methods/trace.js';
import type { Curvature, Method, MethodContext } from './methods/method.js';
import { buildObjective } from './objective.js';
import { fisherOperator, type FisherOptions, type FisherType } from './operators/fisher-operator.js';
import { ggnOperator } from './operators/ggn-operator.js';
import { hessianOperator } from './operators/hessian-operator.js';
import { Progress } from './progress.js';
import { DEFAULT_MAX_DENSE_BYTES, prepareRequest } from '../contract/request.js';
import type { MethodName, MethodSpec } from '../contract/request-schema.js';
import type { ComputeOptions, ComputeRequest, ComputeResult } from '../contract/types.js';
import { verifyOutput } from './verification.js';

/** The Fisher's type and samples from a method spec; its targets are sampled from their own seeded stream. */
function fisherOptionsOf(method: MethodSpec, seed: number): FisherOptions {
  const spec = method as { fisherType?: FisherType; samples?: number };
  return { type: spec.fisherType ?? 'mc', samples: spec.samples ?? 1, rng: createRng(seed + 3) };
}

/** What a Fisher result is: the MC Fisher is a seeded sample of the GGN, and says so. */
function fisherSummary(options: FisherOptions) {
  return options.type === 'mc'
    ? {
        type: 'mc',
        samples: options.samples,
        approximation: true,
        note:
          `The Monte-Carlo Fisher from ${options.samples} sampled target(s) per example (seeded by seed): an ` +
          'unbiased estimate of the GGN for this loss, with error ~1/sqrt(samples); exact for these samples.',
      }
    : {
        type: 'empirical',
        note: 'The empirical Fisher c·Σ g_n g_nᵀ of the per-example gradients at the given targets (c = 1/N for mean).',
      };
}

/** The method registry: one file per method, one line here. */
const METHODS: Record<MethodName, Method<any>> = {
  hessian,
  ggn,
  hvp,
  ggnvp,
  fisher,
  fvp,
  diagonal,
  diagonal_estimate: diagonalEstimate,
  trace,
  eigen,
  density,
  inverse_hvp: inverseHvp,
  finite_difference: finiteDifference,
  kfac,
};

export interface EngineComputeOptions extends ComputeOptions {
  /** Backend to compute on (default: `auto`, or the one already initialised). */
  backend?: BackendChoice;
}

/**
 * Runs one curvature method on a model, a batch and a loss. Validates everything first (nothing is allocated
 * for a request that would be refused), computes, then verifies the result independently: named checks of the
 * curvature machinery and of the method's own output (see verification.ts), whose failure sets
 * `verification.passed: false` with a warning but still returns the result.
 * @throws EngineError for bad input (never retried), cancellation, or refused sizes.
 */
export async function compute(req: ComputeRequest, opts: EngineComputeOptions = {}): Promise<ComputeResult> {
  const started = performance.now();
  const backend = await initBackend(opts.backend ?? 'auto');
  const maxDenseBytes = opts.maxDenseBytes ?? DEFAULT_MAX_DENSE_BYTES;
  const prepared = prepareRequest(req, { maxDenseBytes });
  const progress = new Progress(opts.onProgress, opts.signal);
  progress.check();
  const baseline = tf.memory().numTensors;
  const objective = buildObjective(prepared.model, req.inputs, req.targets, prepared.loss, prepared.layout);
  const raw: Partial<Record<Curvature, LinearOperator & { dispose?: () => void }>> = {};
  const fisherOptions = fisherOptionsOf(prepared.method, prepared.seed);
  const rawOperator = (kind: Curvature) =>
    (raw[kind] ??=
      kind === 'hessian'
        ? hessianOperator(objective)
        : kind === 'fisher'
          ? fisherOperator(objective, fisherOptions)
          : ggnOperator(objective));
  try {
    const ctx: MethodContext = {
      objective,
      operator: (kind) => progress.instrument(rawOperator(kind)),
      progress,
      rng: createRng(prepared.seed),
      vectors: prepared.vectors,
      maxDenseBytes,
      problem: { model: prepared.model, inputs: req.inputs, targets: req.targets, loss: prepared.loss },
    };
    const methodStarted = performance.now();
    const output = await METHODS[prepared.method.name](ctx, prepared.method);
    const methodSeconds = (performance.now() - methodStarted) / 1000;
    progress.finish();

    const verifyStarted = performance.now();
    const verification = await verifyOutput(
      output,
      { objective, operator: rawOperator, rng: createRng(prepared.seed + 2) },
      createRng(prepared.seed + 1),
    );
    return {
      method: prepared.method.name,
      numParams: prepared.numParams,
      parameters: prepared.layout,
      backend: backend.name,
      summary: {
        ...output.summary,
        ...(output.curvature === 'fisher' && { fisher: fisherSummary(fisherOptions) }),
        numExamples: prepared.numExamples,
        seed: prepared.seed,
        loss: prepared.loss,
      },
      verification,
      timings: {
        methodSeconds,
        verificationSeconds: (performance.now() - verifyStarted) / 1000,
        totalSeconds: (performance.now() - started) / 1000,
      },
      arrays: output.arrays,
    };
  } finally {
    for (const op of Object.values(raw)) op?.dispose?.();
    objective.dispose();
    const leaked = tf.memory().numTensors - baseline;
    if (leaked !== 0) console.warn(`hessian engine: ${leaked} tensors leaked by ${prepared.method.name}`);
  }
}
