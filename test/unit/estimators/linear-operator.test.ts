import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../../src/contract/errors.js';
import {
  applyOperator,
  denseOperator,
  scaledOperator,
  shiftedOperator,
} from '../../../src/engine/estimators/linear-operator.js';

const a = Float64Array.from([2, 1, 1, 3]);
const v = Float64Array.from([1, -2]);

describe('linear operators', () => {
  it('multiplies by a dense matrix, its shift and its scaling exactly', async () => {
    // Small integers: every product is exact in float64.
    assert.deepEqual(await denseOperator(a, 2).matvec(v), Float64Array.from([0, -5]));
    assert.deepEqual(await shiftedOperator(denseOperator(a, 2), 0.5).matvec(v), Float64Array.from([0.5, -6]));
    assert.deepEqual(await scaledOperator(denseOperator(a, 2), 2).matvec(v), Float64Array.from([0, -10]));
  });

  it('rejects a matrix whose length is not n²', () => {
    assert.throws(() => denseOperator(new Float64Array(5), 2));
  });

  it('refuses a non-finite product instead of passing NaN on', async () => {
    const op = { size: 2, matvec: async () => Float64Array.from([1, Number.NaN]) };
    await assert.rejects(applyOperator(op, v), (e) => e instanceof EngineError && e.code === 'invalid_array');
  });

  it('refuses a product of the wrong length', async () => {
    const op = { size: 2, matvec: async () => new Float64Array(3) };
    await assert.rejects(applyOperator(op, v), /length 3/);
  });
});
