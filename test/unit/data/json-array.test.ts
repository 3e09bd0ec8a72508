import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonArray } from '../../../src/contract/data/json-array.js';
import { EngineError } from '../../../src/contract/errors.js';
import { assertEngineError } from '../../helpers/engine-error.js';

const assertInvalidArray = (fn: () => unknown, message: RegExp) =>
  assertEngineError(fn, 'invalid_array', message);

describe('parseJsonArray', () => {
  // Values are copied from JSON numbers into float64 unchanged, so comparisons are exact.
  it('reads nested number arrays in C order as float64', () => {
    const a = parseJsonArray(
      [
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        [
          [7, 8],
          [9, 10],
          [11, 12.5],
        ],
      ],
      'inputs',
    );
    assert.equal(a.dtype, 'float64');
    assert.deepEqual(a.shape, [2, 3, 2]);
    assert.deepEqual(Array.from(a.data as Float64Array), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.5]);
  });

  it('keeps integer-only arrays float unless an integer dtype is requested', () => {
    assert.equal(parseJsonArray([0, 2, 1], 'targets').dtype, 'float64');
    const i32 = parseJsonArray([0, 2, 1], 'targets', { dtype: 'int32' });
    assert.equal(i32.dtype, 'int32');
    assert.deepEqual(Array.from(i32.data as Int32Array), [0, 2, 1]);
    const i64 = parseJsonArray([2 ** 40], 'targets', { dtype: 'int64' });
    assert.deepEqual(Array.from(i64.data as BigInt64Array), [2n ** 40n]);
    const f32 = parseJsonArray([0.5], 'targets', { dtype: 'float32' });
    assert.ok(f32.data instanceof Float32Array);
  });

  it('rejects non-integers when an integer dtype is requested, with the position', () => {
    assertInvalidArray(
      () =>
        parseJsonArray(
          [
            [0, 1],
            [2, 1.5],
          ],
          'targets',
          { dtype: 'int32' },
        ),
      /^targets\[1, 1\] is 1\.5; expected a whole number for int32$/,
    );
    assertInvalidArray(
      () => parseJsonArray([2 ** 31], 'targets', { dtype: 'int32' }),
      /targets\[0\] is 2147483648/,
    );
  });

  it('reads boolean arrays as dtype bool', () => {
    const b = parseJsonArray(
      [
        [true, false],
        [false, true],
      ],
      'mask',
    );
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.shape, [2, 2]);
    assert.deepEqual(Array.from(b.data as Uint8Array), [1, 0, 0, 1]);
  });

  it('reads a bare number as a 0-d array and [] as shape [0]', () => {
    const s = parseJsonArray(3, 'x');
    assert.deepEqual(s.shape, []);
    assert.deepEqual(Array.from(s.data as Float64Array), [3]);
    assert.deepEqual(parseJsonArray([], 'x').shape, [0]);
    assert.deepEqual(parseJsonArray([[], []], 'x').shape, [2, 0]);
  });

  it('rejects ragged rows, saying where', () => {
    assertInvalidArray(
      () =>
        parseJsonArray(
          [
            [1, 2, 3],
            [4, 5],
          ],
          'inputs',
        ),
      /^inputs\[1\] has length 2 but inputs\[0\] has length 3: the nesting is ragged/,
    );
    assertInvalidArray(
      () => parseJsonArray([[1, 2], 3], 'inputs'),
      /^inputs\[1\] is a number \(3\), but inputs\[0\] is an array: the nesting is ragged/,
    );
    assertInvalidArray(
      () =>
        parseJsonArray(
          [
            [1, 2],
            [3, [4]],
          ],
          'inputs',
        ),
      /^inputs\[1, 1\] is an array, but inputs\[0, 0\] is not/,
    );
  });

  it('rejects null, strings and objects with their position', () => {
    assertInvalidArray(() => parseJsonArray([[1, null]], 'inputs'), /^inputs\[0, 1\] is null; only numbers/);
    assertInvalidArray(() => parseJsonArray([1, '2'], 'targets'), /^targets\[1\] is a string \("2"\)/);
    assertInvalidArray(() => parseJsonArray([{ a: 1 }], 'inputs'), /^inputs\[0\] is an object/);
    assertInvalidArray(() => parseJsonArray('1, 2', 'inputs'), /^inputs is a string/);
  });

  it('rejects a mix of numbers and booleans', () => {
    assertInvalidArray(
      () => parseJsonArray([true, 1], 'targets'),
      /^targets\[1\] is a number \(1\) but targets\[0\] is a boolean \(true\): an array must be all numbers or all booleans/,
    );
  });

  it('attaches the array name to the error details', () => {
    assert.throws(
      () => parseJsonArray([null], 'inputs'),
      (e: unknown) => e instanceof EngineError && e.details?.array === 'inputs',
    );
  });
});
