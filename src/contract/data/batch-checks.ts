/**
 * Checks a decoded batch against the model and the loss before any computation, so a mistake in the data gets a
 * message saying what to fix instead of a wrong number or a broadcasting error deep inside TF.js.
 */
import { EngineError } from '../errors.js';
import { elementAt, type NdArray } from '../ndarray.js';
import type { LossSpec } from '../request-schema.js';
import { formatPosition, formatShape, unravelIndex } from './positions.js';

/** A model dimension: a size, or null where the model accepts any size (always so for the batch axis). */
export type ModelShape = readonly (number | null)[];

export interface BatchCheckRequest {
  inputs: NdArray;
  targets: NdArray;
  /** The model's input shape with the batch axis as null, e.g. `[null, 28, 28, 1]`. */
  inputShape: ModelShape;
  /** The model's output shape with the batch axis as null, e.g. `[null, 10]`. */
  outputShape: ModelShape;
  lossName: LossSpec['name'];
  /** How messages name the arrays (`inputs.<name>` for a named one). @defaultValue 'inputs' and 'targets' */
  inputsLabel?: string;
  targetsLabel?: string;
  /** Examples the batch's other arrays hold: inputs must have as many. */
  numExamples?: number;
  /**
   * Number of classes for `sparse_categorical_crossentropy`.
   * @defaultValue the last dimension of `outputShape`
   */
  numClasses?: number;
}

/**
 * Validates a batch for a model and loss.
 *
 * - inputs: shape `[N, ...inputShape[1:]]` with N >= 1 (null model dims accept any size);
 * - targets: N examples; for `sparse_categorical_crossentropy` integer class ids in `[0, C)` of shape `[N, ...]`
 *   (the output shape without its class axis, optionally with a trailing 1), otherwise shape
 *   `[N, ...outputShape[1:]]`; `binary_crossentropy` targets in `[0, 1]`, `categorical_crossentropy` targets >= 0;
 * - every value of both arrays finite.
 *
 * @returns the number of examples N.
 * @throws EngineError('invalid_batch') naming the first violation and how to fix it; `details` carries the array
 *   name and the offending shape or position.
 */
export function checkBatch(request: BatchCheckRequest): { numExamples: number } {
  const { inputs, targets, inputShape, outputShape, lossName } = request;
  const inputsLabel = request.inputsLabel ?? 'inputs';
  const targetsLabel = request.targetsLabel ?? 'targets';
  const numExamples = checkInputsShape(inputs, inputShape, inputsLabel);
  if (request.numExamples !== undefined && numExamples !== request.numExamples) {
    fail(
      `${inputsLabel} has ${numExamples} examples but the batch's other arrays have ${request.numExamples}; they must match`,
      { array: inputsLabel, shape: inputs.shape, numExamples: request.numExamples },
    );
  }
  checkTargetsShape(targets, numExamples, outputShape, lossName, targetsLabel, inputsLabel);
  checkFinite(inputs, inputsLabel);
  checkFinite(targets, targetsLabel);

  if (lossName === 'sparse_categorical_crossentropy') {
    const numClasses = request.numClasses ?? outputShape[outputShape.length - 1];
    checkClassIds(targets, targetsLabel, numClasses ?? null, lossName);
  } else if (lossName === 'binary_crossentropy') {
    checkValues(
      targets,
      targetsLabel,
      (v) => v < 0 || v > 1,
      (v) =>
        `is ${v}, outside [0, 1]: binary_crossentropy needs targets in [0, 1] (0/1 labels or probabilities)`,
    );
  } else if (lossName === 'categorical_crossentropy') {
    checkValues(
      targets,
      targetsLabel,
      (v) => v < 0,
      (v) => `is ${v}; categorical_crossentropy needs nonnegative targets (one-hot rows or probabilities)`,
    );
  }
  return { numExamples };
}

/**
 * Checks that inputs to a model whose first layer is an Embedding are token ids: whole numbers in
 * `[0, inputDim)`. (An out-of-range id would otherwise silently gather a zero row or another token's vector.)
 *
 * @throws EngineError('invalid_batch') naming the first offending position and value.
 */
export function checkTokenIds(
  inputs: NdArray,
  inputDim: number,
  layerName = 'Embedding',
  label = 'inputs',
): void {
  checkFinite(inputs, label);
  const integral = inputs.dtype !== 'float32' && inputs.dtype !== 'float64';
  checkValues(
    inputs,
    label,
    (v) => !integral && !Number.isInteger(v),
    (v) => `is ${v}, but the first layer '${layerName}' is an Embedding, which takes integer token ids`,
  );
  checkValues(
    inputs,
    label,
    (v) => v < 0 || v >= inputDim,
    (v) =>
      `is ${v}, but the Embedding layer '${layerName}' has inputDim ${inputDim}; token ids must be in [0, ${inputDim})`,
    { inputDim },
  );
}

function checkInputsShape(inputs: NdArray, inputShape: ModelShape, label: string): number {
  if (inputs.shape.length === 0) {
    fail(
      `${label} is a single number; it needs a leading batch axis, shape ${describeExpected(['N'], inputShape)}`,
      {
        array: label,
        shape: inputs.shape,
      },
    );
  }
  const numExamples = inputs.shape[0];
  if (numExamples === 0) {
    fail(`${label} has no examples (shape ${formatShape(inputs.shape)}); a batch needs at least one`, {
      array: label,
      shape: inputs.shape,
    });
  }
  const expected = concrete([numExamples, ...inputShape.slice(1)], inputs.shape);
  if (!matches(inputs.shape, expected)) {
    fail(
      `${label} has shape ${formatShape(inputs.shape)} but the model's input shape is ${formatShape(inputShape)}; expected ${formatShape(expected)}${reshapeHint('x', inputs.shape, expected)}`,
      { array: label, shape: inputs.shape, expected },
    );
  }
  return numExamples;
}

function checkTargetsShape(
  targets: NdArray,
  numExamples: number,
  outputShape: ModelShape,
  lossName: LossSpec['name'],
  label: string,
  inputsLabel: string,
): void {
  if (targets.shape.length === 0 || targets.shape[0] !== numExamples) {
    const has = targets.shape.length === 0 ? 'is a single number' : `has ${targets.shape[0]} examples`;
    fail(
      `${label} ${has} (shape ${formatShape(targets.shape)}) but ${inputsLabel} has ${numExamples}; they must match`,
      {
        array: label,
        shape: targets.shape,
        numExamples,
      },
    );
  }
  if (lossName === 'sparse_categorical_crossentropy') {
    const ids = [numExamples, ...outputShape.slice(1, -1)];
    if (matches(targets.shape, ids) || matches(targets.shape, [...ids, 1])) return;
    const oneHot = matches(targets.shape, [numExamples, ...outputShape.slice(1)]);
    fail(
      `${label} has shape ${formatShape(targets.shape)} but sparse_categorical_crossentropy expects integer class ids of shape ${formatShape(ids)} or ${formatShape([...ids, 1])} (the model's output shape is ${formatShape(outputShape)})${oneHot ? '; for one-hot targets use categorical_crossentropy' : ''}`,
      { array: label, shape: targets.shape, expected: ids },
    );
  }
  const expected = concrete([numExamples, ...outputShape.slice(1)], targets.shape);
  if (matches(targets.shape, expected)) return;
  const classIds =
    lossName === 'categorical_crossentropy' &&
    (matches(targets.shape, expected.slice(0, -1)) || matches(targets.shape, [...expected.slice(0, -1), 1]));
  fail(
    `${label} has shape ${formatShape(targets.shape)} but the model's output shape is ${formatShape(outputShape)}; expected ${formatShape(expected)}${classIds ? '; for integer class ids use sparse_categorical_crossentropy' : reshapeHint('y', targets.shape, expected)}`,
    { array: label, shape: targets.shape, expected },
  );
}

/** Whether an actual shape fits a model shape, where null accepts any size. */
function matches(actual: readonly number[], expected: ModelShape): boolean {
  return actual.length === expected.length && expected.every((d, i) => d === null || d === actual[i]);
}

/** The model shape with its free (null) dims filled from the actual shape, for messages. */
function concrete(expected: ModelShape, actual: readonly number[]): (number | null)[] {
  return expected.map((d, i) => (d === null && expected.length === actual.length ? actual[i] : d));
}

/** When only the layout is wrong (same number of values per example), say how to reshape in NumPy. */
function reshapeHint(
  variable: string,
  actual: readonly number[],
  expected: readonly (number | null)[],
): string {
  if (expected.some((d) => d === null)) return '';
  const size = (s: readonly (number | null)[]) => s.reduce<number>((a, b) => a * (b ?? 1), 1);
  if (size(actual) !== size(expected)) return '';
  return ` (the number of values matches: ${variable}.reshape(${expected.join(', ')}))`;
}

function describeExpected(leading: string[], modelShape: ModelShape): string {
  return `[${[...leading, ...modelShape.slice(1).map((d) => (d === null ? 'any' : String(d)))].join(', ')}]`;
}

/**
 * The first non-finite value of a float array, with its position (`inputs[3, 0, 2] is NaN`). The one finiteness
 * check of the service: at upload (API) and before computing (engine, CLI).
 * @throws EngineError('invalid_array')
 */
export function checkFinite(a: NdArray, name: string): void {
  if (a.dtype !== 'float32' && a.dtype !== 'float64') return;
  checkValues(
    a,
    name,
    (v) => !Number.isFinite(v),
    (v) => `is ${v}; all values must be finite`,
    {},
    'invalid_array',
  );
}

function checkClassIds(targets: NdArray, name: string, numClasses: number | null, lossName: string): void {
  const integral = targets.dtype !== 'float32' && targets.dtype !== 'float64';
  checkValues(
    targets,
    name,
    (v) => !integral && !Number.isInteger(v),
    (v) => `is ${v}; ${lossName} needs integer class ids (whole numbers)`,
  );
  checkValues(
    targets,
    name,
    (v) => v < 0 || (numClasses !== null && v >= numClasses),
    (v) =>
      numClasses === null
        ? `is ${v}; class ids must be nonnegative`
        : `is ${v}, outside [0, ${numClasses}): the model has ${numClasses} classes`,
    numClasses === null ? {} : { numClasses },
  );
}

/** Fails at the first element for which `bad` holds, naming its position as NumPy would (`inputs[3, 0, 2]`). */
function checkValues(
  a: NdArray,
  name: string,
  bad: (value: number) => boolean,
  message: (value: number) => string,
  details: Record<string, unknown> = {},
  code: 'invalid_batch' | 'invalid_array' = 'invalid_batch',
): void {
  const data = a.data;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    const value = typeof data[i] === 'bigint' ? elementAt(a, i) : (data[i] as number);
    if (!bad(value)) continue;
    const index = unravelIndex(i, a.shape);
    throw new EngineError(code, `${formatPosition(name, index)} ${message(value)}`, {
      array: name,
      index,
      value: String(value),
      ...details,
    });
  }
}

function fail(message: string, details: Record<string, unknown>): never {
  throw new EngineError('invalid_batch', message, details);
}
