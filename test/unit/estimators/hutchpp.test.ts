import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hutchinsonTrace } from '../../../src/engine/estimators/hutchinson.js';
import { hutchppTrace } from '../../../src/engine/estimators/hutchpp.js';
import { denseOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { counting, matrixWithSpectrum } from './matrices.js';

describe('hutchppTrace', () => {
  it('is exact when rank(A) ≤ matvecs/3, even with negative eigenvalues', async () => {
    const spectrum = [9, -4, 2.5, 1, -0.5, ...new Array(45).fill(0)];
    const op = counting(denseOperator(matrixWithSpectrum(spectrum, 1), 50));
    const r = await hutchppTrace(op, { matvecs: 18, rng: createRng(1) });
    // Q spans the range of A, so only rounding remains (‖A‖ = 9, ε·‖A‖·n ≈ 1e-13).
    assert.ok(Math.abs(r.trace - 8) < 1e-10, `${r.trace}`);
    assert.equal(r.sketchRank, 5);
    assert.ok(r.standardError < 1e-12);
    // Dependent sketch columns cost nothing in Q; their products go to residual probes.
    assert.equal(r.probes, 18 - 6 - 5);
    assert.equal(op.calls, 18);
    assert.equal(r.matvecs, 18);
  });

  it('converges to the trace as matvecs grow, within 4 standard errors, and beats Hutchinson on a decaying spectrum', async () => {
    const n = 60;
    const spectrum = Array.from({ length: n }, (_, i) => 10 / (1 + i) ** 1.5);
    const truth = spectrum.reduce((s, x) => s + x, 0);
    const op = denseOperator(matrixWithSpectrum(spectrum, 2), n);
    const small = await hutchppTrace(op, { matvecs: 12, rng: createRng(3) });
    const large = await hutchppTrace(op, { matvecs: 150, rng: createRng(3) });
    assert.ok(Math.abs(large.trace - truth) < Math.abs(small.trace - truth));
    assert.ok(Math.abs(large.trace - truth) <= 4 * large.standardError);
    const hutchinson = await hutchinsonTrace(op, { probes: 150, rng: createRng(3) });
    assert.ok(large.standardError < hutchinson.standardError / 3);
  });

  it('returns the exact trace from n unit vectors when the budget covers n products', async () => {
    const n = 4;
    const op = counting(denseOperator(matrixWithSpectrum([1, 2, 3, 4], 5), n));
    const r = await hutchppTrace(op, { matvecs: 30, rng: createRng(4) });
    // Sum of the diagonal of Q diag(1..4) Qᵀ: rounding only.
    assert.ok(Math.abs(r.trace - 10) < 1e-13);
    assert.deepEqual([r.probes, r.standardError, r.matvecs, op.calls], [0, 0, n, n]);
  });

  it('falls back to Hutchinson below 3 matvecs', async () => {
    const op = denseOperator(matrixWithSpectrum([1, 2, 3, 4, 5], 5), 5);
    const r = await hutchppTrace(op, { matvecs: 2, rng: createRng(6) });
    const h = await hutchinsonTrace(op, { probes: 2, rng: createRng(6) });
    assert.equal(r.trace, h.trace);
    assert.equal(r.sketchRank, 0);
    assert.equal(r.matvecs, 2);
  });

  it('is deterministic given the seed', async () => {
    const op = denseOperator(matrixWithSpectrum([5, 4, 3, 2, 1, 0.5, 0.1, 0], 7), 8);
    const run = () => hutchppTrace(op, { matvecs: 9, rng: createRng(8) });
    assert.deepEqual(await run(), await run());
  });
});
