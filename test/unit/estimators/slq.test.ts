import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../../src/contract/errors.js';
import { denseOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng } from '../../../src/engine/estimators/rng.js';
import { stochasticLanczosQuadrature } from '../../../src/engine/estimators/slq.js';
import { counting, matrixWithSpectrum, maxAbsDiff } from './matrices.js';

function diagonal(values: readonly number[]): Float64Array {
  const n = values.length;
  const a = new Float64Array(n * n);
  values.forEach((x, i) => (a[i * n + i] = x));
  return a;
}

function trapezoid(x: Float64Array, y: Float64Array, from = -Infinity, to = Infinity): number {
  let s = 0;
  for (let i = 1; i < x.length; i++) {
    if (x[i - 1] >= from && x[i] <= to) s += ((y[i] + y[i - 1]) / 2) * (x[i] - x[i - 1]);
  }
  return s;
}

describe('stochasticLanczosQuadrature', () => {
  it('gives weights summing to 1 per probe and a density integrating to 1', async () => {
    const n = 40;
    const op = denseOperator(
      matrixWithSpectrum(
        Array.from({ length: n }, (_, i) => Math.cos(i) * 3),
        2,
      ),
      n,
    );
    const r = await stochasticLanczosQuadrature(op, { probes: 5, steps: 12, rng: createRng(1) });
    assert.equal(r.probes.length, 5);
    for (const { nodes, weights } of r.probes) {
      assert.equal(nodes.length, 12);
      // Squared first components of an orthogonal matrix: the sum is 1 up to rounding.
      assert.ok(Math.abs(weights.reduce((s, w) => s + w, 0) - 1) < 1e-13);
      assert.ok(weights.every((w) => w >= 0));
    }
    assert.equal(r.grid.length, 400);
    // 5σ padding leaves < 6e-7 of the mass outside; the trapezoid rule on a grid of spacing 0.28σ is far
    // more accurate than that for Gaussians.
    assert.ok(Math.abs(trapezoid(r.grid, r.density) - 1) < 1e-5);
    assert.ok(Math.abs(r.sigma - (0.01 * (r.grid[r.grid.length - 1] - r.grid[0])) / 1.1) < 1e-12);
  });

  it('returns the exact eigenvalues as nodes, each with weight 1/n, with n steps on a diagonal matrix', async () => {
    const spectrum = [-2, -0.5, 0, 0.3, 1, 1.7, 2, 4, 8, 9.5];
    const n = spectrum.length;
    const r = await stochasticLanczosQuadrature(denseOperator(diagonal(spectrum), n), {
      probes: 3,
      steps: n,
      rng: createRng(2),
    });
    for (const { nodes, weights } of r.probes) {
      // A full Krylov space: Ritz values are eigenvalues up to rounding (‖A‖ = 9.5).
      assert.ok(maxAbsDiff(nodes, spectrum) < 1e-12);
      // The weight of λᵢ is vᵢ² for a unit probe v; a normalized Rademacher vector has vᵢ² = 1/n.
      assert.ok(maxAbsDiff(weights, new Array(n).fill(1 / n)) < 1e-12);
    }
  });

  it('stops a probe at breakdown: a matrix with 3 distinct eigenvalues needs 3 steps', async () => {
    const spectrum = [1, 1, 1, 1, 4, 4, 4, 4, 4, 4, 9, 9];
    const op = counting(denseOperator(matrixWithSpectrum(spectrum, 3), spectrum.length));
    const r = await stochasticLanczosQuadrature(op, { probes: 4, steps: 8, rng: createRng(3) });
    // Three Gauss nodes integrate every polynomial of degree ≤ 5 exactly, so the nodes are 1, 4, 9 and the
    // average weights approach the multiplicities 4/12, 6/12, 2/12.
    for (const { nodes } of r.probes) assert.ok(maxAbsDiff(nodes, [1, 4, 9]) < 1e-10);
    assert.equal(op.calls, 4 * 3);
  });

  // 150 eigenvalues: 100 spread over [0, 1], 50 over [5, 6]; so 2/3 of the mass lies below 3.
  const HISTOGRAM = Array.from({ length: 150 }, (_, i) => (i < 100 ? i / 99 : 5 + (i - 100) / 49));

  it('approximates the eigenvalue histogram of a known diagonal spectrum', async () => {
    const n = HISTOGRAM.length;
    const r = await stochasticLanczosQuadrature(denseOperator(diagonal(HISTOGRAM), n), {
      probes: 4,
      steps: 30,
      rng: createRng(4),
    });
    // For a diagonal matrix every normalized Rademacher probe weighs each eigenvalue by exactly 1/n, so only the
    // 30-node quadrature and the smoothing (σ = 0.06) blur the histogram: the two blocks are separated by a gap
    // of 4 ≈ 65σ, and an interval inside a block loses a little mass at its edges.
    assert.ok(Math.abs(trapezoid(r.grid, r.density, -Infinity, 3) - 2 / 3) < 1e-3);
    assert.ok(Math.abs(trapezoid(r.grid, r.density, 0.25, 0.75) - 1 / 3) < 0.03);
    assert.ok(trapezoid(r.grid, r.density, 2, 4) < 1e-6);
  });

  it('approximates the histogram of the same spectrum in a random basis, within 4 standard errors', async () => {
    const n = HISTOGRAM.length;
    const r = await stochasticLanczosQuadrature(denseOperator(matrixWithSpectrum(HISTOGRAM, 9), n), {
      probes: 20,
      steps: 30,
      rng: createRng(4),
    });
    // Now the mass a probe puts below 3 is vᵀPv for a rank-100 projector P: standard deviation
    // √(2·(2/3)(1/3)/n) ≈ 0.054 per probe, 0.012 for the mean of 20; 0.05 is 4 standard errors.
    assert.ok(Math.abs(trapezoid(r.grid, r.density, -Infinity, 3) - 2 / 3) < 0.05);
    assert.ok(Math.abs(trapezoid(r.grid, r.density, 0.25, 0.75) - 1 / 3) < 0.06);
    assert.ok(trapezoid(r.grid, r.density, 2, 4) < 1e-6);
  });

  it('uses the given sigma and padding and is deterministic given the seed', async () => {
    const op = denseOperator(matrixWithSpectrum([1, 2, 3, 4, 5, 6], 5), 6);
    const run = () =>
      stochasticLanczosQuadrature(op, { probes: 2, steps: 4, sigma: 0.5, padding: 1, rng: createRng(6) });
    const r = await run();
    assert.equal(r.sigma, 0.5);
    const lo = Math.min(...r.probes.map((p) => p.nodes[0]));
    assert.ok(Math.abs(r.grid[0] - (lo - 1)) < 1e-12);
    assert.deepEqual(await run(), r);
  });

  it('handles a multiple of the identity, whose nodes all coincide', async () => {
    const r = await stochasticLanczosQuadrature(denseOperator(diagonal([3, 3, 3]), 3), { probes: 2 });
    // σ falls back to 1% of |node| = 0.03; the density still integrates to 1.
    assert.ok(Math.abs(r.sigma - 0.03) < 1e-15);
    assert.ok(Math.abs(trapezoid(r.grid, r.density) - 1) < 1e-5);
  });

  it('rejects invalid options and lets operator errors propagate', async () => {
    const op = denseOperator(diagonal([1, 2]), 2);
    const invalid = (e: unknown) => e instanceof EngineError && e.code === 'invalid_method';
    await assert.rejects(stochasticLanczosQuadrature(op, { probes: 0 }), invalid);
    await assert.rejects(stochasticLanczosQuadrature(op, { gridPoints: 1 }), invalid);
    await assert.rejects(stochasticLanczosQuadrature(op, { sigma: -1 }), invalid);
    await assert.rejects(stochasticLanczosQuadrature(counting(op, 2), { probes: 3 }), /cancelled by test/);
  });
});
