/**
 * Behaviour every method shares (leaks, progress, cancellation, guards, seeds) and the estimators on a real
 * model's Hessian, against the float64 reference of a golden case.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src/engine/backend.js';
import { compute } from '../../../src/engine/compute.js';
import { EngineError } from '../../../src/engine/errors.js';
import { METHOD_NAMES, type MethodSpecInput } from '../../../src/engine/spec.js';
import { loadGoldenCase, matvec, relativeError } from '../../helpers/golden.js';

const c = loadGoldenCase('mlp_tanh_cce_fused');
const P = c.numParams;
const trace = (m: Float64Array) =>
  Array.from({ length: P }, (_, i) => m[i * P + i]).reduce((a, b) => a + b, 0);
const ones = [Array.from({ length: P }, (_, i) => Math.sin(i + 1))];

const SPECS: Record<string, MethodSpecInput> = {
  hessian: { name: 'hessian' },
  ggn: { name: 'ggn' },
  hvp: { name: 'hvp', vectors: ones },
  ggnvp: { name: 'ggnvp', vectors: ones },
  diagonal: { name: 'diagonal' },
  diagonal_estimate: { name: 'diagonal_estimate', probes: 10 },
  trace: { name: 'trace', probes: 12 },
  eigen: { name: 'eigen', k: 2 },
  density: { name: 'density', probes: 2, steps: 10 },
  inverse_hvp: { name: 'inverse_hvp', curvature: 'ggn', damping: 0.1, vectors: ones },
  finite_difference: { name: 'finite_difference' },
};

/** The named checks each method's result carries, in order (see src/engine/verification.ts). */
const CHECKS: Record<string, string[]> = {
  hessian: ['directional_fd', 'symmetry', 'product_fd', 'sampled_columns'],
  ggn: ['directional_fd', 'symmetry', 'full_ggn_product', 'sampled_columns'],
  hvp: ['directional_fd', 'product_fd'],
  ggnvp: ['directional_fd', 'full_ggn_product'],
  diagonal: ['directional_fd', 'sampled_diagonal'],
  diagonal_estimate: ['directional_fd', 'standard_error'],
  trace: ['directional_fd', 'standard_error'],
  eigen: ['directional_fd', 'eigen_residuals'],
  density: ['directional_fd', 'standard_error'],
  inverse_hvp: ['directional_fd', 'full_ggn_product', 'inverse_hvp_residual'],
  finite_difference: ['directional_fd', 'symmetry', 'sampled_columns'],
};

for (const backend of ['cpu', 'wasm'] as const)
  describe(`engine methods on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    it('runs every method, verifies it with named checks, and returns the live tensor count to its baseline', async () => {
      assert.deepEqual(Object.keys(SPECS).sort(), [...METHOD_NAMES].sort());
      assert.deepEqual(Object.keys(CHECKS).sort(), [...METHOD_NAMES].sort());
      for (const name of METHOD_NAMES) {
        const baseline = tf.memory().numTensors;
        const r = await compute({ ...c.request, method: SPECS[name] });
        assert.equal(tf.memory().numTensors, baseline, `${name} leaked tensors`);
        assert.equal(r.method, name);
        assert.equal(r.backend, backend);
        assert.ok(r.verification.passed, `${name}: ${JSON.stringify(r.verification)}`);
        assert.ok(r.verification.directional!.relativeError < 1e-2, `${name} directional check`);
        const { checks } = r.verification;
        assert.deepEqual(
          checks.map((x) => x.name),
          CHECKS[name],
          name,
        );
        for (const x of checks) {
          assert.ok(x.passed && !x.inconclusive, `${name}: ${JSON.stringify(x)}`);
          // Stochastic estimates report a standard error and claim nothing more.
          assert.equal(x.approximation, x.name === 'standard_error');
          assert.equal(x.tolerance === null, x.approximation);
        }
        assert.deepEqual(
          r.parameters.map((p) => p.name),
          ['dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias'],
        );
      }
    });

    it('ggnvp equals the reference GGN times the vector, and inverse_hvp solves (G + δI)x = b', async () => {
      const v = Float64Array.from(ones[0]);
      const r = await compute({ ...c.request, method: SPECS.ggnvp });
      // Float32 products through two layers: 1e-4.
      assert.ok(relativeError(r.arrays['ggnvp.npy'].data, matvec(c.ggn, v)) <= 1e-4);
      const s = await compute({ ...c.request, method: SPECS.inverse_hvp });
      const x = Float64Array.from(s.arrays['inverse_hvp.npy'].data);
      const gx = matvec(c.ggn, x).map((g, i) => g + 0.1 * x[i]);
      // CG to 1e-6 relative residual on float32 products: the float64 residual is below 1e-4.
      assert.ok(relativeError(gx, v) <= 1e-4, `residual ${relativeError(gx, v)}`);
    });

    it('reports progress monotonically up to the total, and cancels between units of work', async () => {
      const seen: [number, number][] = [];
      await compute(
        { ...c.request, method: { name: 'hessian' } },
        { onProgress: (a, b) => seen.push([a, b]) },
      );
      assert.deepEqual(seen.at(-1), [P, P]);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] >= seen[i - 1][0]);

      const controller = new AbortController();
      const baseline = tf.memory().numTensors;
      let units = 0;
      await assert.rejects(
        compute(
          { ...c.request, method: { name: 'hessian' } },
          {
            signal: controller.signal,
            onProgress: (done) => {
              units = done;
              if (done === 3) controller.abort();
            },
          },
        ),
        (e: unknown) => e instanceof EngineError && e.code === 'cancelled',
      );
      assert.equal(units, 3);
      assert.equal(tf.memory().numTensors, baseline, 'cancellation leaked tensors');
    });

    it('refuses a dense result above the memory limit before allocating, with the numbers', async () => {
      await assert.rejects(
        compute({ ...c.request, method: { name: 'hessian' } }, { maxDenseBytes: 1000 }),
        (e: unknown) =>
          e instanceof EngineError &&
          e.code === 'too_large' &&
          /51×51 float32 matrix needs 11 KiB, above the limit of 1 KiB/.test(e.message),
      );
    });

    it('gives the same stochastic estimate for the same seed and a different one for another seed', async () => {
      const run = (seed: number) =>
        compute({ ...c.request, method: { name: 'trace', estimator: 'hutchinson', probes: 5 }, seed });
      const [a, b, d] = [await run(1), await run(1), await run(2)];
      assert.equal(a.summary.trace, b.summary.trace);
      assert.notEqual(a.summary.trace, d.summary.trace);
    });

    it("converges to the exact trace as Hutchinson's probes grow, within 4 standard errors", async () => {
      const exact = trace(c.hessian);
      const few = await compute({
        ...c.request,
        method: { name: 'trace', estimator: 'hutchinson', probes: 4 },
      });
      const many = await compute({
        ...c.request,
        method: { name: 'trace', estimator: 'hutchinson', probes: 400 },
      });
      const errFew = Math.abs((few.summary.trace as number) - exact);
      const errMany = Math.abs((many.summary.trace as number) - exact);
      assert.ok(errMany < errFew, `error ${errMany} at 400 probes vs ${errFew} at 4`);
      assert.ok(errMany <= 4 * (many.summary.standardError as number));
    });

    it('Hutch++ is exact when its sketch spans the operator (probes ≥ 3P), and the exact trace matches', async () => {
      const exact = trace(c.hessian);
      const hpp = await compute({
        ...c.request,
        method: { name: 'trace', estimator: 'hutchpp', probes: 3 * P },
      });
      // Float32 products: 1e-5 relative.
      assert.ok(Math.abs((hpp.summary.trace as number) - exact) <= 1e-5 * Math.abs(exact) + 1e-6);
      const ex = await compute({ ...c.request, method: { name: 'trace', estimator: 'exact' } });
      assert.ok(Math.abs((ex.summary.trace as number) - exact) <= 1e-5 * Math.abs(exact) + 1e-6);
    });

    it('estimates the diagonal within its standard errors, and SLQ quadrature weights sum to 1', async () => {
      const d = await compute({ ...c.request, method: { name: 'diagonal_estimate', probes: 300 } });
      const est = d.arrays['diagonal.npy'].data;
      const se = d.arrays['diagonal_stderr.npy'].data;
      let within = 0;
      for (let i = 0; i < P; i++) if (Math.abs(est[i] - c.hessian[i * P + i]) <= 3 * se[i] + 1e-6) within++;
      assert.ok(within >= 0.95 * P, `${within}/${P} entries within 3 standard errors`);

      const s = await compute({ ...c.request, method: { name: 'density', probes: 3, steps: 20 } });
      for (const probe of s.summary.probes as { weights: number[] }[]) {
        assert.ok(Math.abs(probe.weights.reduce((a, b) => a + b, 0) - 1) < 1e-9);
      }
      const grid = s.arrays['density_grid.npy'].data;
      const density = s.arrays['density.npy'].data;
      let integral = 0;
      for (let i = 1; i < grid.length; i++)
        integral += 0.5 * (density[i] + density[i - 1]) * (grid[i] - grid[i - 1]);
      assert.ok(Math.abs(integral - 1) < 1e-3, `density integrates to ${integral}`);
    });

    it('finds the smallest and largest-magnitude eigenvalues against the reference spectrum', async () => {
      const ref = Array.from(c.eigenvalues);
      const radius = Math.max(Math.abs(ref[0]), Math.abs(ref[P - 1]));
      const small = await compute({
        ...c.request,
        method: { name: 'eigen', k: 2, which: 'smallest', maxIter: P },
      });
      assert.ok(Math.abs((small.summary.eigenvalues as number[])[0] - ref[0]) <= 1e-3 * radius);
      const mag = await compute({
        ...c.request,
        method: { name: 'eigen', k: 1, which: 'magnitude', maxIter: P },
      });
      assert.ok(Math.abs(Math.abs((mag.summary.eigenvalues as number[])[0]) - radius) <= 1e-3 * radius);
      for (const r of mag.summary.residualNorms as number[]) assert.ok(r <= 1e-3 * radius);
    });

    it('restricts the Hessian to selected parameters and zeroes off-block entries for blocks: layer', async () => {
      const sub = await compute({
        ...c.request,
        method: { name: 'hessian' },
        parameters: { include: ['dense_1'] },
      });
      const first = 4 * 6 + 6; // dense/kernel [4,6] + dense/bias [6]
      const n = P - first;
      assert.equal(sub.numParams, n);
      const ref = Float64Array.from(
        { length: n * n },
        (_, k) => c.hessian[(first + Math.floor(k / n)) * P + first + (k % n)],
      );
      assert.ok(relativeError(sub.arrays['hessian.npy'].data, ref) <= 1e-4);

      const blocks = await compute({ ...c.request, method: { name: 'hessian', blocks: 'layer' } });
      const h = blocks.arrays['hessian.npy'].data;
      assert.equal(h[0 * P + first], 0, 'cross-layer entry is zero');
      assert.ok(
        Math.abs(h[first * P + first] - c.hessian[first * P + first]) <=
          1e-4 * Math.abs(c.hessian[first * P + first]) + 1e-7,
      );
      await assert.rejects(
        compute({ ...c.request, method: { name: 'hessian' }, parameters: { include: ['nope'] } }),
        /Unknown parameter or layer name\(s\): nope\. Trainable weights are: dense\/kernel/,
      );
    });
  });
