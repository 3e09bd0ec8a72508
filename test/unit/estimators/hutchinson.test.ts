import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../../src/contract/errors.js';
import { hutchinsonDiagonal, hutchinsonTrace } from '../../../src/engine/estimators/hutchinson.js';
import { denseOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { counting, denseTrace, randomSymmetric } from './matrices.js';

const N = 20;
const A = randomSymmetric(N, 7);
// Give the matrix a sizeable trace so relative errors mean something.
for (let i = 0; i < N; i++) A[i * N + i] += 3;
const TRACE = denseTrace(A, N);

describe('hutchinsonTrace', () => {
  for (const distribution of ['rademacher', 'gaussian'] as const) {
    it(`converges to the trace as ${distribution} probes grow, within 4 standard errors`, async () => {
      const op = denseOperator(A, N);
      const few = await hutchinsonTrace(op, { probes: 10, rng: createRng(1), distribution });
      const many = await hutchinsonTrace(op, { probes: 1000, rng: createRng(1), distribution });
      assert.ok(
        Math.abs(many.trace - TRACE) < Math.abs(few.trace - TRACE),
        `${few.trace} ${many.trace} ${TRACE}`,
      );
      // The estimate is a mean of i.i.d. samples: |error| ≤ 4 SE fails with probability < 1e-4 (fixed seed).
      assert.ok(Math.abs(many.trace - TRACE) <= 4 * many.standardError);
      assert.ok(many.standardError < few.standardError);
      assert.equal(many.probes, 1000);
    });
  }

  it('has standard error √(2(‖A‖²_F − Σ aᵢᵢ²)/N) with Rademacher probes', async () => {
    let offDiagonal = 0;
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) if (i !== j) offDiagonal += A[i * N + j] ** 2;
    const probes = 4000;
    const r = await hutchinsonTrace(denseOperator(A, N), { probes, rng: createRng(2) });
    const theory = Math.sqrt((2 * offDiagonal) / probes);
    // The sample standard deviation of 4000 draws is within a few percent of the true one; 15% is safe.
    assert.ok(Math.abs(r.standardError / theory - 1) < 0.15, `${r.standardError} vs ${theory}`);
  });

  it('is exact for a diagonal matrix with Rademacher probes, with zero standard error', async () => {
    const d = new Float64Array(16);
    for (let i = 0; i < 4; i++) d[i * 4 + i] = i + 1;
    const r = await hutchinsonTrace(denseOperator(d, 4), { probes: 3, rng: createRng(3) });
    assert.equal(r.trace, 10); // vᵢ² = 1 exactly
    assert.equal(r.standardError, 0);
  });

  it('reports NaN standard error for a single probe and rejects zero probes', async () => {
    const r = await hutchinsonTrace(denseOperator(A, N), { probes: 1 });
    assert.ok(Number.isNaN(r.standardError));
    await assert.rejects(
      hutchinsonTrace(denseOperator(A, N), { probes: 0 }),
      (e) => e instanceof EngineError && e.code === 'invalid_method',
    );
  });

  it('is deterministic given the seed and lets operator errors propagate', async () => {
    const run = (seed: number) => hutchinsonTrace(denseOperator(A, N), { probes: 7, rng: createRng(seed) });
    assert.deepEqual(await run(4), await run(4));
    assert.notDeepEqual(await run(4), await run(5));
    await assert.rejects(
      hutchinsonTrace(counting(denseOperator(A, N), 3), { probes: 10 }),
      /cancelled by test/,
    );
  });
});

describe('hutchinsonDiagonal', () => {
  it('converges to the diagonal as probes grow, each entry within 4 standard errors', async () => {
    const op = denseOperator(A, N);
    const few = await hutchinsonDiagonal(op, { probes: 10, rng: createRng(1) });
    const many = await hutchinsonDiagonal(op, { probes: 1000, rng: createRng(1) });
    const error = (d: Float64Array) => Math.hypot(...d.map((x, i) => x - A[i * N + i]));
    assert.ok(error(many.diagonal) < error(few.diagonal));
    // 20 entries, each beyond 4 SE with probability ~6e-5: a fixed seed makes this a stable check.
    many.diagonal.forEach((x, i) => assert.ok(Math.abs(x - A[i * N + i]) <= 4 * many.standardError[i]));
  });

  it('matches the per-entry standard error √(Σ_{j≠i} aᵢⱼ² / N)', async () => {
    const probes = 4000;
    const r = await hutchinsonDiagonal(denseOperator(A, N), { probes, rng: createRng(6) });
    r.standardError.forEach((se, i) => {
      let s = 0;
      for (let j = 0; j < N; j++) if (j !== i) s += A[i * N + j] ** 2;
      // Sample standard deviations from 4000 draws: within 15% of the truth.
      assert.ok(Math.abs(se / Math.sqrt(s / probes) - 1) < 0.15);
    });
  });
});
