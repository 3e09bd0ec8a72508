import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice, type BackendInfo } from './backend.js';
import { createRng } from './estimators/rng.js';
import type { LinearOperator } from './estimators/linear-operator.js';
import { density, densitySplit } from './methods/density.js';
import { diagonalEstimate, diagonalEstimateSplit } from './methods/diagonal-estimate.js';
import { diagonal, diagonalSplit } from './methods/diagonal.js';
import { eigen } from './methods/eigen.js';
import { finiteDifference, finiteDifferenceSplit } from './methods/finite-difference.js';
import { ggn, ggnSplit } from './methods/ggn.js';
import { hessian, hessianSplit } from './methods/hessian.js';
import { fisher, fisherSplit } from './methods/fisher.js';
import { fvp, fvpSplit, ggnvp, ggnvpSplit, hvp, hvpSplit } from './methods/hvp.js';
import { inverseHvp, inverseHvpSplit } from './methods/inverse-hvp.js';
import { kfac, kfacSplit } from './methods/kfac.js';
import { trace, traceSplit } from './methods/trace.js';
import type { Curvature, Method, MethodContext, MethodOutput } from './methods/method.js';
import {
  orderedParts,
  pieceRange,
  type PartialResult,
  type PieceSpec,
  type SplitRegistry,
  type UnitPlan,
} from './methods/split.js';
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

/** The methods that split into pieces (`methods/split.ts`); the others always run whole. */
const SPLITS: SplitRegistry = {
  hessian: hessianSplit,
  ggn: ggnSplit,
  fisher: fisherSplit,
  trace: traceSplit,
  diagonal: diagonalSplit,
  diagonal_estimate: diagonalEstimateSplit,
  finite_difference: finiteDifferenceSplit,
  hvp: hvpSplit,
  ggnvp: ggnvpSplit,
  fvp: fvpSplit,
  inverse_hvp: inverseHvpSplit,
  density: densitySplit,
  kfac: kfacSplit,
};

/** Whether a method can split into pieces for some request (the API's guess before the model is loaded). */
export function isSplitMethod(name: MethodName): boolean {
  return SPLITS[name] !== undefined;
}

export interface EngineComputeOptions extends ComputeOptions {
  /** Backend to compute on (default: `auto`, or the one already initialised). */
  backend?: BackendChoice;
}

/** What one piece of a split job computed. */
export type PieceOutcome =
  /** Its units' partial result, to be combined with the other pieces' by `compute(req, {parts})`. */
  | { kind: 'partial'; plan: UnitPlan; partial: PartialResult; seconds: number }
  /** The request does not split (its plan is null): piece 0 computed the whole result, the others nothing. */
  | { kind: 'whole'; result: ComputeResult }
  /**
   * Nothing to compute: a later piece of a request that runs whole, or a piece with no whole chunk. `runsWhole`:
   * a piece over some of the examples (`additiveOnly`) of a request that cannot add over examples.
   */
  | { kind: 'empty'; plan: UnitPlan | null; runsWhole?: boolean };

interface Session {
  ctx: MethodContext;
  prepared: ReturnType<typeof prepareRequest>;
  backend: BackendInfo;
  fisherOptions: FisherOptions;
  rawOperator(kind: Curvature): LinearOperator;
  progress: Progress;
}

/** Validates and prepares a request, builds its objective and operators, runs `body`, and disposes of them all. */
async function withSession<T>(
  req: ComputeRequest,
  opts: EngineComputeOptions,
  body: (session: Session) => Promise<T>,
): Promise<T> {
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
      seed: prepared.seed,
      vectors: prepared.vectors,
      maxDenseBytes,
      problem: { model: prepared.model, inputs: req.inputs, targets: req.targets, loss: prepared.loss },
    };
    return await body({ ctx, prepared, backend, fisherOptions, rawOperator, progress });
  } finally {
    for (const op of Object.values(raw)) op?.dispose?.();
    objective.dispose();
    const leaked = tf.memory().numTensors - baseline;
    if (leaked !== 0) console.warn(`hessian engine: ${leaked} tensors leaked by ${prepared.method.name}`);
  }
}

/** Verifies a method's output and assembles the result (the end of `compute`, whole or combined). */
async function finishResult(
  session: Session,
  output: MethodOutput,
  started: number,
  methodSeconds: number,
): Promise<ComputeResult> {
  const { ctx, prepared, backend, fisherOptions, rawOperator } = session;
  session.progress.finish();
  const verifyStarted = performance.now();
  const verification = await verifyOutput(
    output,
    { objective: ctx.objective, operator: rawOperator, rng: createRng(prepared.seed + 2) },
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
}

/**
 * Runs one curvature method on a model, a batch and a loss. Validates everything first (nothing is allocated
 * for a request that would be refused), computes, then verifies the result independently: named checks of the
 * curvature machinery and of the method's own output (see verification.ts), whose failure sets
 * `verification.passed: false` with a warning but still returns the result.
 *
 * With `parts`, the pieces of a split job (`computePiece`) are combined instead of computed: the method's output
 * from them, then the same verification as a single run.
 * @throws EngineError for bad input (never retried), cancellation, or refused sizes.
 */
export async function compute(
  req: ComputeRequest,
  opts: EngineComputeOptions & { parts?: PartialResult[] } = {},
): Promise<ComputeResult> {
  const started = performance.now();
  return withSession(req, opts, async (session) => {
    const { ctx, prepared } = session;
    const methodStarted = performance.now();
    let output: MethodOutput;
    if (opts.parts) {
      const split = SPLITS[prepared.method.name];
      const plan = split?.plan(ctx, prepared.method);
      if (!split || !plan) throw new Error(`${prepared.method.name} does not split here: nothing to combine`);
      output = await split.finish(ctx, prepared.method, orderedParts(plan, opts.parts));
    } else {
      output = await METHODS[prepared.method.name](ctx, prepared.method);
    }
    return finishResult(session, output, started, (performance.now() - methodStarted) / 1000);
  });
}

/**
 * Computes piece `piece.index` of `piece.count` of a request: the units `pieceRange` gives it, as a partial result
 * for `compute(req, {parts})`. A request whose method or route does not split runs whole in piece 0. With
 * `additiveOnly` (the request holds one group of a job's examples), a request whose pieces do not add up over
 * examples computes nothing and says so (`runsWhole`): the job's first piece then runs it on every example.
 * @throws EngineError as `compute` does.
 */
export async function computePiece(
  req: ComputeRequest,
  piece: PieceSpec,
  opts: EngineComputeOptions & { additiveOnly?: boolean } = {},
): Promise<PieceOutcome> {
  const started = performance.now();
  return withSession(req, opts, async (session): Promise<PieceOutcome> => {
    const { ctx, prepared } = session;
    const split = SPLITS[prepared.method.name];
    const plan = split?.plan(ctx, prepared.method) ?? null;
    // A piece over some of the examples is only of use when the pieces add up over examples.
    if (opts.additiveOnly && !(plan && split?.additive?.(ctx, prepared.method))) {
      return { kind: 'empty', plan, runsWhole: true };
    }
    if (!split || !plan) {
      if (piece.index !== 0) return { kind: 'empty', plan: null };
      const methodStarted = performance.now();
      const output = await METHODS[prepared.method.name](ctx, prepared.method);
      const seconds = (performance.now() - methodStarted) / 1000;
      return { kind: 'whole', result: await finishResult(session, output, started, seconds) };
    }
    const { start, end } = pieceRange(plan, piece);
    if (start === end) return { kind: 'empty', plan };
    const partial = await split.run(ctx, prepared.method, start, end);
    session.progress.finish();
    return { kind: 'partial', plan, partial, seconds: (performance.now() - started) / 1000 };
  });
}
