/**
 * Everything that can be checked about a request without computing (tf-free, so the HTTP API runs it before
 * queuing): specs, model, batch against model and loss, parameter selection, vectors and memory.
 */
import type { z } from 'zod';
import { checkBatch, checkTokenIds } from './data/batch-checks.js';
import { EngineError, type EngineErrorCode } from './errors.js';
import { denseBytes, guardDense } from './methods/guards.js';
import { requestVectors } from './methods/vectors.js';
import { parseModel } from './model/parse.js';
import type { ParsedModel } from './model/model-spec.js';
import { selectParameters } from './parameters.js';
import {
  DENSE_METHODS,
  lossSpecSchema,
  methodSpecSchema,
  parameterSelectionSchema,
  type LossSpec,
  type MethodSpec,
  type ParameterSelection,
} from './spec.js';
import type { ComputeRequest, ParamLayout } from './types.js';

/** Default limit for one dense result: 2 GiB (P ≈ 23 000). */
export const DEFAULT_MAX_DENSE_BYTES = 2 * 1024 ** 3;

export interface PreparedRequest {
  model: ParsedModel;
  loss: LossSpec;
  method: MethodSpec;
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

  const prepared: PreparedRequest = { model, loss, method, selection, layout, numParams, numExamples, seed };
  const maxDenseBytes = opts.maxDenseBytes ?? DEFAULT_MAX_DENSE_BYTES;
  if (DENSE_METHODS.has(method.name)) {
    guardDense(numParams, maxDenseBytes);
    prepared.denseBytes = denseBytes(numParams);
  }
  if (method.name === 'hvp' || method.name === 'ggnvp' || method.name === 'inverse_hvp') {
    prepared.vectors = requestVectors(method.name, numParams, req.vectors, method.vectors);
  }
  if (method.name === 'eigen' && method.k > numParams) {
    throw new EngineError(
      'invalid_method',
      `eigen: k = ${method.k} exceeds the number of parameters P = ${numParams}.`,
    );
  }
  return prepared;
}

/** Summary of the checks, for callers that only validate (the API before queuing). */
export function validateRequest(
  req: ComputeRequest,
  opts: { maxDenseBytes?: number } = {},
): { numParams: number; numExamples: number; denseBytes?: number } {
  const { numParams, numExamples, denseBytes: bytes } = prepareRequest(req, opts);
  return { numParams, numExamples, denseBytes: bytes };
}
