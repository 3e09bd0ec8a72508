import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exactDiagonal, exactTrace } from '../../../src/engine/estimators/exact.js';
import { denseOperator } from '../../../src/engine/estimators/linear-operator.js';
import { counting, denseTrace, randomSymmetric } from './matrices.js';

describe('exact diagonal and trace', () => {
  it('reads the diagonal and the trace off n unit-vector products', async () => {
    const n = 13;
    const a = randomSymmetric(n, 3);
    const op = counting(denseOperator(a, n));
    const steps: number[] = [];
    const diagonal = await exactDiagonal(op, (done) => void steps.push(done));
    // A product with a unit vector copies a column: bit-exact.
    assert.deepEqual(
      diagonal,
      Float64Array.from({ length: n }, (_, i) => a[i * n + i]),
    );
    assert.equal(op.calls, n);
    assert.equal(steps.length, n);
    // Same numbers summed in a different order: a few ulps.
    assert.ok(Math.abs((await exactTrace(op)) - denseTrace(a, n)) < 1e-13);
  });
});
