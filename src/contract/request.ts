/**
 * Everything that can be checked about a request without computing (tf-free, so the HTTP API runs it before
 * queuing): specs, model, batch against model and loss, parameter selection, vectors and memory.
 */
import type { z } from 'zod';
import { checkBatch, checkTokenIds } from './data/batch-checks.js';
import { EngineError, type EngineErrorCode } from './errors.js';
import { defaultCgIterations, defaultLanczosSteps } from './defaults.js';
import { denseBytes, guardBytes, guardDense, jacobianBytes, prefersExplicitJacobian } from './guards.js';
import { requestVectors } from './vectors.js';
import { parseModel } from './model/parse.js';
import type { ParsedModel } from './model/parsed-model.js';
import { selectParameters } from './parameters.js';
import {
  DENSE_METHODS,
  lossSpecSchema,
  methodSpecSchema,
  parameterSelectionSchema,
  type LossSpec,
  type MethodSpec,
  type ParameterSelection,
} from './request-schema.js';
import type { ComputeRequest, ParamLayout } from './types.js';

/** Default limit for one dense result: 2 GiB (P ≈ 23 000). */
export const DEFAULT_MAX_DENSE_BYTES = 2 * 1024 ** 3;

/**
 * A method spec with every default that depends on the problem filled in (Lanczos steps, CG iterations), so the API
 * queues, the job shows and the worker runs the same numbers.
 */
export type NormalizedMethodSpec =
  | Exclude<MethodSpec, { name: 'eigen' | 'inverse_hvp' }>
  | (Extract<MethodSpec, { name: 'eigen' }> & { maxIter: number })
  | (Extract<MethodSpec, { name: 'inverse_hvp' }> & { maxIter: number });

export interface PreparedRequest {
  model: ParsedModel;
  loss: LossSpec;
  method: NormalizedMethodSpec;
  selection?: ParameterSelection;
  layout: ParamLayout[];
  numParams: number;
  numExamples: number;
  vectors?: Float64Array[];
  seed: number;
  /** Bytes of the dense result, for dense methods. */
  denseBytes?: number;
}

function parseSpec<S extends z.ZodType>(
  schema: S,
  value: unknown,
  code: EngineErrorCode,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${[what, ...i.path].join('.')}: ${i.message}`);
  throw new EngineError(code, `Invalid ${what}: ${issues.join('; ')}`, { issues: parsed.error.issues });
}

/** @throws EngineError with the first problem found, phrased as what to fix. */
export function prepareRequest(req: ComputeRequest, opts: { maxDenseBytes?: number } = {}): PreparedRequest {
  const loss = parseSpec(lossSpecSchema, req.loss, 'invalid_loss', 'loss');
  const method = parseSpec(methodSpecSchema, req.method, 'invalid_method', 'method');
  const selection = req.parameters
    ? parseSpec(parameterSelectionSchema, req.parameters, 'invalid_parameters', 'parameters')
    : undefined;
  const seed = req.seed ?? 0;
  if (!Number.isInteger(seed))
    throw new EngineError('invalid_method', `seed must be an integer, got ${seed}.`);

  const model = parseModel(req.model);
  const { numExamples } = checkBatch({
    inputs: req.inputs,
    targets: req.targets,
    inputShape: model.inputShape,
    outputShape: model.outputShape,
    lossName: loss.name,
  });
  const first = model.layers.find((l) => l.kind !== 'input');
  if (first?.kind === 'embedding') checkTokenIds(req.inputs, first.inputDim);

  const layout = selectParameters(model, selection);
  const numParams = layout.reduce((n, p) => n + p.size, 0);
  if (numParams === 0)
    throw new EngineError('invalid_parameters', 'The selection contains no trainable parameters.');

  const maxDenseBytes = opts.maxDenseBytes ?? DEFAULT_MAX_DENSE_BYTES;
  const normalized = normalizeMethod(method, numParams);
  const prepared: PreparedRequest = {
    model,
    loss,
    method: normalized,
    selection,
    layout,
    numParams,
    numExamples,
    seed,
  };
  if (DENSE_METHODS.has(method.name)) {
    guardDense(numParams, maxDenseBytes);
    prepared.denseBytes = denseBytes(numParams);
  }
  // The dense GGN and its exact diagonal use the explicit Jacobian (N·C × P) when that is cheaper: guard it here, so a
  // job the API accepted cannot fail on it in the worker.
  const usesGgn = method.name === 'ggn' || (method.name === 'diagonal' && method.curvature === 'ggn');
  const jacobianRows = numExamples * outputsPerExample(model);
  if (usesGgn && prefersExplicitJacobian(jacobianRows, numParams)) {
    guardBytes('The Jacobian', jacobianBytes(jacobianRows, numParams), maxDenseBytes, 'Use a smaller batch.');
  }
  if (method.name === 'hvp' || method.name === 'ggnvp' || method.name === 'inverse_hvp') {
    prepared.vectors = requestVectors(method.name, numParams, req.vectors, method.vectors);
  }
  return prepared;
}

/** Fills the defaults that depend on P and checks what only makes sense against P. */
function normalizeMethod(method: MethodSpec, numParams: number): NormalizedMethodSpec {
  if (method.name === 'eigen') {
    if (method.k > numParams) {
      throw new EngineError(
        'invalid_method',
        `eigen: k = ${method.k} exceeds the number of parameters P = ${numParams}.`,
      );
    }
    const maxIter = Math.min(numParams, method.maxIter ?? defaultLanczosSteps(numParams, method.k));
    if (maxIter < method.k) {
      throw new EngineError(
        'invalid_method',
        `eigen: maxIter = ${method.maxIter} is below k = ${method.k}; Lanczos needs at least k steps.`,
      );
    }
    return { ...method, maxIter };
  }
  if (method.name === 'inverse_hvp') {
    return { ...method, maxIter: method.maxIter ?? defaultCgIterations(numParams) };
  }
  return method;
}

/** Values per example at the split point of the GGN (the model's output, or the logits of a fused loss). */
function outputsPerExample(model: ParsedModel): number {
  return model.outputShape.slice(1).reduce<number>((n, d) => n * (d ?? 1), 1);
}

/**
 * Summary of the checks, for callers that only validate (the API before queuing), with the method as it will run:
 * the API queues that normalized spec, so the worker never meets a default or a check the API did not.
 */
export function validateRequest(
  req: ComputeRequest,
  opts: { maxDenseBytes?: number } = {},
): { numParams: number; numExamples: number; denseBytes?: number; method: NormalizedMethodSpec } {
  const { numParams, numExamples, denseBytes: bytes, method } = prepareRequest(req, opts);
  return { numParams, numExamples, denseBytes: bytes, method };
}
