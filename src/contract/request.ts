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
import { planKfac } from './kfac-coverage.js';
import { parseModel } from './model/parse.js';
import type { ModelOutput, ParsedModel } from './model/parsed-model.js';
import { arraysFor, type ArrayGroup } from './data/array-group.js';
import { sizeOf } from './ndarray.js';
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

/**
 * The loss and method specs alone, checked as `prepareRequest` checks them: for callers that can refuse a mistake
 * before loading a model or TF.js (the CLI).
 * @throws EngineError('invalid_loss' | 'invalid_method') as `prepareRequest` would.
 */
export function checkSpecs(loss: unknown, method: unknown): void {
  parseSpec(lossSpecSchema, loss, 'invalid_loss', 'loss');
  parseSpec(methodSpecSchema, method, 'invalid_method', 'method');
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

  const model = parseModel(req.model, { inputs: req.inputs });
  const numExamples = checkBatchForModel(model, req.inputs, req.targets, loss);

  const layout = selectParameters(model, selection);
  const numParams = layout.reduce((n, p) => n + p.size, 0);
  if (numParams === 0)
    throw new EngineError('invalid_parameters', 'The selection contains no trainable parameters.');

  const maxDenseBytes = opts.maxDenseBytes ?? DEFAULT_MAX_DENSE_BYTES;
  checkFisherOptions(method, model, outputLosses(model, loss)[0].spec);
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
  if (
    method.name === 'hvp' ||
    method.name === 'ggnvp' ||
    method.name === 'fvp' ||
    method.name === 'inverse_hvp'
  ) {
    prepared.vectors = requestVectors(method.name, numParams, req.vectors, method.vectors);
  }
  if (method.name === 'kfac') {
    // Refused here, not in the worker: the model, loss and selection decide what kfac covers.
    planKfac(model, loss, prepared.layout, maxDenseBytes);
    if (req.vectors || method.vectors) {
      prepared.vectors = requestVectors(method.name, numParams, req.vectors, method.vectors);
    }
  }
  return prepared;
}

/** Fills the defaults that depend on P and checks what only makes sense against P. */
/** Curvature names a method uses ('fisher' for the Fisher methods). */
function curvatureOf(method: MethodSpec): string | undefined {
  if (method.name === 'fisher' || method.name === 'fvp') return 'fisher';
  return 'curvature' in method ? method.curvature : undefined;
}

const LIKELIHOOD_LOSSES = new Set([
  'categorical_crossentropy',
  'sparse_categorical_crossentropy',
  'binary_crossentropy',
  'mean_squared_error',
]);

/**
 * The Fisher's options are refused where they do not apply, and the Monte-Carlo Fisher where it cannot sample:
 * before the job is queued, not in the worker.
 */
function checkFisherOptions(method: MethodSpec, model: ParsedModel, loss: LossSpec): void {
  const options = method as { fisherType?: string; samples?: number };
  const fisher = curvatureOf(method) === 'fisher';
  if (
    !fisher &&
    method.name !== 'kfac' &&
    (options.fisherType !== undefined || options.samples !== undefined)
  ) {
    throw new EngineError(
      'invalid_method',
      `${method.name}: fisherType and samples apply to curvature "fisher" only; this request uses ` +
        `"${curvatureOf(method) ?? 'none'}".`,
    );
  }
  if (!fisher) return;
  const type = options.fisherType ?? 'mc';
  if (type === 'empirical' && options.samples !== undefined) {
    throw new EngineError('invalid_method', `${method.name}: samples applies to fisherType "mc" only.`);
  }
  if (type !== 'mc') return;
  if (model.outputs.length !== 1) {
    throw new EngineError(
      'invalid_method',
      `${method.name}: the Monte-Carlo Fisher takes single-output models (this one has ${model.outputs.length}); ` +
        'use fisherType "empirical" or curvature "ggn".',
    );
  }
  if (!LIKELIHOOD_LOSSES.has(loss.name)) {
    throw new EngineError(
      'invalid_loss',
      `${method.name}: the Monte-Carlo Fisher samples targets from the model, so the loss must be a negative ` +
        `log-likelihood (categorical, sparse categorical or binary cross-entropy, or mean squared error); ` +
        `"${loss.name}" is not. Use fisherType "empirical" or curvature "ggn".`,
    );
  }
}

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

/** Values per example at the split point of the GGN (the model's outputs, or the logits of a fused loss). */
function outputsPerExample(model: ParsedModel): number {
  const output = (name: string) => model.layers.find((l) => l.name === name)!.outputShape;
  return model.outputs.reduce((n, o) => n + sizeOf(output(o.name)), 0);
}

/** The loss of one model output, with its weight in the total. */
export interface OutputLoss {
  output: ModelOutput;
  spec: LossSpec;
  weight: number;
}

/**
 * Each output's loss: `loss` itself, with the overrides `loss.outputs` gives by output name.
 * @throws EngineError('invalid_loss') for an override naming no output of the model
 */
export function outputLosses(model: ParsedModel, loss: LossSpec): OutputLoss[] {
  const overrides = loss.outputs ?? {};
  const names = model.outputs.map((o) => o.name);
  const unknown = Object.keys(overrides).filter((k) => !names.includes(k));
  if (unknown.length > 0) {
    throw new EngineError(
      'invalid_loss',
      `loss.outputs names ${unknown.map((k) => JSON.stringify(k)).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not outputs of the model; its outputs are ${names.map((n) => JSON.stringify(n)).join(', ')}.`,
    );
  }
  return model.outputs.map((output) => {
    const override = Object.hasOwn(overrides, output.name) ? overrides[output.name] : undefined;
    const spec: LossSpec = {
      name: override?.name ?? loss.name,
      fromLogits: override?.fromLogits ?? loss.fromLogits,
      reduction: loss.reduction,
      l2: loss.l2,
      delta: override?.delta ?? loss.delta,
    };
    return { output, spec, weight: override?.weight ?? 1 };
  });
}

/**
 * Checks the batch against every input and output of the model: shapes, example counts, values for each output's
 * loss, and token ids for Embedding layers reading an input directly.
 * @returns the number of examples
 */
function checkBatchForModel(
  model: ParsedModel,
  inputs: ArrayGroup,
  targets: ArrayGroup,
  loss: LossSpec,
): number {
  const inputArrays = arraysFor(
    inputs,
    model.inputs.map((i) => i.name),
    'inputs',
  );
  const targetArrays = arraysFor(
    targets,
    model.outputs.map((o) => o.name),
    'targets',
  );
  const losses = outputLosses(model, loss);
  let numExamples: number | undefined;
  model.inputs.forEach((input, i) => {
    // Each input against the first output's targets; then every output's targets against the first input.
    const k = Math.min(i, losses.length - 1);
    numExamples = checkBatch({
      inputs: inputArrays[i].array,
      targets: targetArrays[k].array,
      inputShape: input.shape,
      outputShape: losses[k].output.shape,
      lossName: losses[k].spec.name,
      inputsLabel: inputArrays[i].label,
      targetsLabel: targetArrays[k].label,
      numExamples,
    }).numExamples;
  });
  for (let k = model.inputs.length; k < losses.length; k++) {
    checkBatch({
      inputs: inputArrays[0].array,
      targets: targetArrays[k].array,
      inputShape: model.inputs[0].shape,
      outputShape: losses[k].output.shape,
      lossName: losses[k].spec.name,
      inputsLabel: inputArrays[0].label,
      targetsLabel: targetArrays[k].label,
    });
  }
  for (const layer of model.layers) {
    if (layer.kind !== 'embedding') continue;
    const i = model.inputs.findIndex((input) => input.name === layer.inbound[0]);
    if (i >= 0) checkTokenIds(inputArrays[i].array, layer.inputDim, layer.name, inputArrays[i].label);
  }
  return numExamples!;
}

/**
 * Summary of the checks, for callers that only validate (the API before queuing), with the method as it will run:
 * the API queues that normalized spec, so the worker never meets a default or a check the API did not.
 */
export function validateRequest(
  req: ComputeRequest,
  opts: { maxDenseBytes?: number } = {},
): {
  numParams: number;
  numExamples: number;
  denseBytes?: number;
  method: NormalizedMethodSpec;
  /** Rows of the request's vectors (0 without). */
  vectors: number;
} {
  const { numParams, numExamples, denseBytes: bytes, method, vectors } = prepareRequest(req, opts);
  return { numParams, numExamples, denseBytes: bytes, method, vectors: vectors?.length ?? 0 };
}
