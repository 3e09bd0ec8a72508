/** Several datasets as one batch: examples concatenated in order, dtypes kept, mismatches refused by name. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatBatches } from '../../../src/contract/data/concat.js';
import { EngineError } from '../../../src/contract/errors.js';
import type { NdArray } from '../../../src/contract/ndarray.js';

const f32 = (shape: number[], values: number[]): NdArray => ({
  dtype: 'float32',
  shape,
  data: Float32Array.from(values),
});
const i64 = (values: number[]): NdArray => ({
  dtype: 'int64',
  shape: [values.length],
  data: BigInt64Array.from(values.map(BigInt)),
});

describe('concatBatches', () => {
  it('puts the examples of single arrays one after the other, each dtype kept', () => {
    const joined = concatBatches(
      [
        { inputs: f32([2, 2], [1, 2, 3, 4]), targets: i64([0, 1]) },
        { inputs: f32([1, 2], [5, 6]), targets: i64([2]) },
      ],
      ['a', 'b'],
    );
    assert.deepEqual(joined.inputs, f32([3, 2], [1, 2, 3, 4, 5, 6]));
    assert.deepEqual(joined.targets, i64([0, 1, 2]));
  });

  it('joins named arrays by name, whatever their order in each dataset', () => {
    const joined = concatBatches(
      [
        {
          inputs: new Map([
            ['x', f32([1, 1], [1])],
            ['y', f32([1], [2])],
          ]),
          targets: f32([1], [0]),
        },
        {
          inputs: new Map([
            ['y', f32([1], [4])],
            ['x', f32([1, 1], [3])],
          ]),
          targets: f32([1], [1]),
        },
      ],
      ['a', 'b'],
    );
    const inputs = joined.inputs as Map<string, NdArray>;
    assert.deepEqual([...inputs.get('x')!.data], [1, 3]);
    assert.deepEqual([...inputs.get('y')!.data], [2, 4]);
  });

  it('refuses datasets whose per-example shapes, dtypes or arrays differ, naming the dataset', () => {
    const base = { inputs: f32([1, 2], [1, 2]), targets: f32([1], [0]) };
    const cases: [object, RegExp][] = [
      [
        { inputs: f32([1, 3], [1, 2, 3]), targets: f32([1], [0]) },
        /inputs of dataset b is float32 \[1, 3\].*\[1, 2\]/,
      ],
      [{ inputs: base.inputs, targets: i64([0]) }, /targets of dataset b is int64/],
      [
        { inputs: new Map([['x', f32([1, 2], [1, 2])]]), targets: base.targets },
        /dataset b has inputs\.x, dataset a has inputs/,
      ],
    ];
    for (const [other, message] of cases) {
      assert.throws(
        () => concatBatches([base, other as typeof base], ['a', 'b']),
        (e: unknown) => e instanceof EngineError && e.code === 'invalid_batch' && message.test(e.message),
      );
    }
  });
});
