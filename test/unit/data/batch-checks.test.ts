import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkBatch,
  checkTokenIds,
  type BatchCheckRequest,
} from '../../../src/contract/data/batch-checks.js';
import type { NdArray } from '../../../src/contract/ndarray.js';
import { assertEngineError } from '../../helpers/engine-error.js';

const f32 = (shape: number[], values?: number[]): NdArray => ({
  dtype: 'float32',
  shape,
  data: values ? new Float32Array(values) : new Float32Array(shape.reduce((a, b) => a * b, 1)),
});
const i64 = (shape: number[], values: bigint[]): NdArray => ({
  dtype: 'int64',
  shape,
  data: new BigInt64Array(values),
});
const i32 = (shape: number[], values: number[]): NdArray => ({
  dtype: 'int32',
  shape,
  data: new Int32Array(values),
});

/** An MLP on 3 features with 4 outputs, and a valid batch of 2 examples for the given loss. */
function request(overrides: Partial<BatchCheckRequest>): BatchCheckRequest {
  return {
    inputs: f32([2, 3]),
    targets: f32([2, 4]),
    inputShape: [null, 3],
    outputShape: [null, 4],
    lossName: 'mean_squared_error',
    ...overrides,
  };
}

const assertInvalidBatch = (fn: () => unknown, message: RegExp, details?: Record<string, unknown>) =>
  assertEngineError(fn, 'invalid_batch', message, details);
const assertInvalidArray = (fn: () => unknown, message: RegExp, details?: Record<string, unknown>) =>
  assertEngineError(fn, 'invalid_array', message, details);

describe('checkBatch: shapes', () => {
  it('accepts a matching batch and returns the number of examples', () => {
    assert.deepEqual(checkBatch(request({})), { numExamples: 2 });
    const image = request({
      inputs: f32([5, 28, 28, 1]),
      targets: f32([5, 10]),
      inputShape: [null, 28, 28, 1],
    });
    assert.deepEqual(checkBatch({ ...image, outputShape: [null, 10] }), { numExamples: 5 });
  });

  it('accepts any size where the model has a free dimension', () => {
    const seq = request({ inputs: f32([2, 7, 3]), inputShape: [null, null, 3] });
    assert.deepEqual(checkBatch(seq), { numExamples: 2 });
  });

  it('rejects inputs of the wrong shape, giving the expected shape', () => {
    assertInvalidBatch(
      () =>
        checkBatch(
          request({ inputs: f32([8, 28, 28]), targets: f32([8, 10]), inputShape: [null, 28, 28, 1] }),
        ),
      /^inputs has shape \[8, 28, 28\] but the model's input shape is \[null, 28, 28, 1\]; expected \[8, 28, 28, 1\]/,
      { array: 'inputs', shape: [8, 28, 28], expected: [8, 28, 28, 1] },
    );
  });

  it('suggests a reshape when only the layout of the inputs is wrong', () => {
    assertInvalidBatch(
      () => checkBatch(request({ inputs: f32([2, 784]), inputShape: [null, 28, 28, 1] })),
      /x\.reshape\(2, 28, 28, 1\)/,
    );
  });

  it('rejects scalar and empty inputs', () => {
    assertInvalidBatch(
      () => checkBatch(request({ inputs: f32([], [1]) })),
      /leading batch axis, shape \[N, 3\]/,
    );
    assertInvalidBatch(
      () => checkBatch(request({ inputs: f32([0, 3]) })),
      /inputs has no examples \(shape \[0, 3\]\)/,
    );
  });

  it('rejects targets whose number of examples differs from the inputs', () => {
    assertInvalidBatch(
      () => checkBatch(request({ targets: f32([3, 4]) })),
      /^targets has 3 examples \(shape \[3, 4\]\) but inputs has 2; they must match/,
    );
  });

  it('rejects targets of the wrong shape for a dense loss, giving the expected shape', () => {
    assertInvalidBatch(
      () => checkBatch(request({ inputs: f32([8, 3]), targets: f32([8, 3]), outputShape: [null, 10] })),
      /^targets has shape \[8, 3\] but the model's output shape is \[null, 10\]; expected \[8, 10\]$/,
      { expected: [8, 10] },
    );
  });

  it('suggests y.reshape for [N] targets when the model outputs [N, 1]', () => {
    assertInvalidBatch(
      () =>
        checkBatch(request({ targets: f32([2]), outputShape: [null, 1], lossName: 'binary_crossentropy' })),
      /expected \[2, 1\] \(the number of values matches: y\.reshape\(2, 1\)\)/,
    );
  });

  it('points categorical_crossentropy users with class ids to the sparse loss', () => {
    assertInvalidBatch(
      () => checkBatch(request({ targets: i32([2], [0, 3]), lossName: 'categorical_crossentropy' })),
      /for integer class ids use sparse_categorical_crossentropy/,
    );
  });
});

describe('checkBatch: sparse_categorical_crossentropy', () => {
  const sparse = (targets: NdArray, extra: Partial<BatchCheckRequest> = {}) =>
    checkBatch(request({ targets, lossName: 'sparse_categorical_crossentropy', ...extra }));

  it('accepts class ids of shape [N] or [N, 1], as ints or whole floats', () => {
    assert.deepEqual(sparse(i64([2], [0n, 3n])), { numExamples: 2 });
    assert.deepEqual(sparse(i32([2, 1], [3, 0])), { numExamples: 2 });
    assert.deepEqual(sparse(f32([2], [1, 2])), { numExamples: 2 });
  });

  it('accepts class ids of the output shape without its class axis', () => {
    const seq = { inputs: f32([2, 5, 3]), inputShape: [null, 5, 3], outputShape: [null, 5, 4] };
    assert.deepEqual(sparse(i32([2, 5], new Array(10).fill(1)), seq), { numExamples: 2 });
  });

  it('rejects one-hot targets, pointing to categorical_crossentropy', () => {
    assertInvalidBatch(
      () => sparse(f32([2, 4])),
      /^targets has shape \[2, 4\] but sparse_categorical_crossentropy expects integer class ids of shape \[2\] or \[2, 1\].*use categorical_crossentropy$/,
    );
  });

  it('rejects non-integer class ids with their position', () => {
    assertInvalidBatch(
      () => sparse(f32([2], [1, 2.5])),
      /^targets\[1\] is 2\.5; sparse_categorical_crossentropy needs integer class ids/,
      {
        index: [1],
        value: '2.5',
      },
    );
  });

  it('rejects class ids outside [0, C) with their position', () => {
    assertInvalidBatch(
      () => sparse(i64([2, 1], [0n, 4n])),
      /^targets\[1, 0\] is 4, outside \[0, 4\): the model has 4 classes$/,
    );
    assertInvalidBatch(() => sparse(i32([2], [-1, 0])), /^targets\[0\] is -1, outside \[0, 4\)/);
  });

  it('uses numClasses when given', () => {
    assertInvalidBatch(() => sparse(i32([2], [0, 2]), { numClasses: 2 }), /outside \[0, 2\)/);
  });
});

describe('checkBatch: target values', () => {
  it('rejects binary_crossentropy targets outside [0, 1]', () => {
    assertInvalidBatch(
      () =>
        checkBatch(
          request({ targets: f32([2, 4], [0, 1, 0.5, 1, 0, 1.5, 0, 0]), lossName: 'binary_crossentropy' }),
        ),
      /^targets\[1, 1\] is 1\.5, outside \[0, 1\]: binary_crossentropy/,
    );
  });

  it('accepts bool targets for binary_crossentropy', () => {
    const targets: NdArray = { dtype: 'bool', shape: [2, 4], data: new Uint8Array([1, 0, 0, 1, 1, 1, 0, 0]) };
    assert.deepEqual(checkBatch(request({ targets, lossName: 'binary_crossentropy' })), { numExamples: 2 });
  });

  it('rejects negative categorical_crossentropy targets', () => {
    assertInvalidBatch(
      () =>
        checkBatch(
          request({
            targets: f32([2, 4], [1, 0, 0, 0, 0, -0.5, 0, 0]),
            lossName: 'categorical_crossentropy',
          }),
        ),
      /^targets\[1, 1\] is -0\.5; categorical_crossentropy needs nonnegative targets/,
    );
  });

  it('accepts any finite targets for mean_squared_error and huber', () => {
    const targets = f32([2, 4], [-5, 1e6, 0, 3, 2, 1, 0, -1]);
    assert.deepEqual(checkBatch(request({ targets })), { numExamples: 2 });
    assert.deepEqual(checkBatch(request({ targets, lossName: 'huber' })), { numExamples: 2 });
  });
});

describe('checkBatch: non-finite values', () => {
  it('rejects NaN in inputs with its position', () => {
    const inputs = f32([4, 1, 3]);
    (inputs.data as Float32Array)[3 * 3 + 2] = NaN;
    assertInvalidArray(
      () => checkBatch(request({ inputs, targets: f32([4, 4]), inputShape: [null, 1, 3] })),
      /^inputs\[3, 0, 2\] is NaN; all values must be finite$/,
      { array: 'inputs', index: [3, 0, 2], value: 'NaN' },
    );
  });

  it('rejects infinities in targets with their position', () => {
    assertInvalidArray(
      () => checkBatch(request({ targets: f32([2, 4], [0, 0, 0, 0, 0, -Infinity, 0, 0]) })),
      /^targets\[1, 1\] is -Infinity/,
    );
    const targets: NdArray = { dtype: 'float64', shape: [2, 4], data: new Float64Array(8).fill(Infinity) };
    assertInvalidArray(() => checkBatch(request({ targets })), /^targets\[0, 0\] is Infinity/);
  });
});

describe('checkTokenIds', () => {
  it('accepts integer ids in [0, inputDim)', () => {
    checkTokenIds(i32([2, 3], [0, 1, 2, 9, 9, 0]), 10);
    checkTokenIds(f32([1, 2], [3, 4]), 10);
  });

  it('rejects ids at or above inputDim, naming the layer', () => {
    assertInvalidBatch(
      () => checkTokenIds(i64([2, 3], [0n, 1n, 2n, 9n, 10n, 0n]), 10, 'embedding_1'),
      /^inputs\[1, 1\] is 10, but the Embedding layer 'embedding_1' has inputDim 10; token ids must be in \[0, 10\)$/,
      { inputDim: 10 },
    );
  });

  it('rejects negative, fractional and non-finite ids', () => {
    assertInvalidBatch(() => checkTokenIds(i32([2], [1, -3]), 10), /^inputs\[1\] is -3/);
    assertInvalidBatch(
      () => checkTokenIds(f32([2], [1, 0.5]), 10),
      /^inputs\[1\] is 0\.5, .*integer token ids/,
    );
    assertInvalidArray(() => checkTokenIds(f32([2], [NaN, 1]), 10), /^inputs\[0\] is NaN/);
  });
});
