/**
 * Split jobs of the exact diagonal, Hutchinson's diagonal and finite differences: a request computed as 2 or
 * 5 pieces (`computePiece`) and combined (`compute(req, {parts})`) gives exactly the single run's result (tolerance
 * 0: each column or chunk of probes is computed by the same block products, each probe draws from its own stream,
 * and the chunks' moments are merged in chunk order). Routes that do not split (the factor, the explicit Jacobian)
 * run whole in piece 0. The chunks' merged moments match a direct float64 mean and standard deviation over every
 * probe to 1e-12 relative (measured: at most 2e-15 up to 1000 probes; both are float64 reductions of the same
 * values, in another order). With a statistics budget small enough to group G > 1 chunks per row
 * (`diagonalGroupChunks`), 1, 2 and 3 pieces of a dense operator still equal its single run exactly.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { compute, computePiece } from '../../../src/engine/compute.js';
import { initBackend } from '../../../src/engine/backend.js';
import {
  diagonalFromMoments,
  emptyMoments,
  hutchinsonDiagonalChunks,
  mergeMoments,
} from '../../../src/engine/estimators/hutchinson.js';
import { denseOperator, type LinearOperator } from '../../../src/engine/estimators/linear-operator.js';
import { createRng, derivedRng } from '../../../src/engine/estimators/rng.js';
import {
  DIAGONAL_STATISTICS_BUDGET,
  diagonalEstimateSplitWith,
  diagonalEstimateWith,
  diagonalGroupChunks,
} from '../../../src/engine/methods/diagonal-estimate.js';
import type { MethodContext, SpecOf } from '../../../src/engine/methods/method.js';
import { pieceRange, type PartialResult } from '../../../src/engine/methods/split.js';
import type { Objective } from '../../../src/engine/objective.js';
import { Progress } from '../../../src/engine/progress.js';
import type { MethodSpecInput } from '../../../src/contract/request-schema.js';
import { loadGoldenCase } from '../../helpers/golden.js';
import { assertSameArrays, assertSameResult, viaPieces } from '../../helpers/pieces.js';
import { randomSymmetric } from '../estimators/matrices.js';

/** A dense operator with block products of `blockSize` directions, so that probes come in chunks. */
function blockOperator(matrix: Float64Array, n: number, blockSize: number): LinearOperator {
  const op = denseOperator(matrix, n);
  return { ...op, matvec: op.matvec, matmat: (vs) => Promise.all(vs.map((v) => op.matvec(v))), blockSize };
}

describe('Hutchinson diagonal moments by chunk', () => {
  const N = 20;
  const A = randomSymmetric(N, 5);
  for (const [probes, blockSize] of [
    [37, 4],
    [64, 32],
    [5, 1],
    [3, 8],
  ]) {
    it(`${probes} probes in chunks of ${blockSize}: the merged moments are the direct mean and standard error`, async () => {
      const op = blockOperator(A, N, blockSize);
      const draw = (j: number) => derivedRng(9, j).rademacherVector(N);
      const total = emptyMoments(N);
      let chunks = 0;
      await hutchinsonDiagonalChunks(op, { start: 0, end: probes }, draw, (m) => {
        chunks++;
        mergeMoments(total, m);
      });
      assert.equal(chunks, Math.ceil(probes / blockSize));
      const r = diagonalFromMoments(total);
      assert.equal(r.probes, probes);

      // Direct: every probe's v ⊙ Av, then a two-pass mean and sample variance in float64.
      const samples = await Promise.all(
        Array.from({ length: probes }, async (_, j) => {
          const v = draw(j);
          const av = await op.matvec(v);
          return v.map((x, i) => x * av[i]);
        }),
      );
      for (let i = 0; i < N; i++) {
        let mean = 0;
        for (const s of samples) mean += s[i];
        mean /= probes;
        let ss = 0;
        for (const s of samples) ss += (s[i] - mean) ** 2;
        const se = Math.sqrt(ss / (probes - 1) / probes);
        const scale = Math.max(Math.abs(mean), se);
        assert.ok(
          Math.abs(r.diagonal[i] - mean) <= 1e-12 * scale,
          `entry ${i}: mean ${r.diagonal[i]} vs ${mean}`,
        );
        assert.ok(
          Math.abs(r.standardError[i] - se) <= 1e-12 * se,
          `entry ${i}: se ${r.standardError[i]} vs ${se}`,
        );
      }
    });
  }

  it('a range of whole chunks gives the chunks of the full run, bit for bit', async () => {
    const op = blockOperator(A, N, 4);
    const draw = (j: number) => derivedRng(2, j).rademacherVector(N);
    const all: Float64Array[] = [];
    await hutchinsonDiagonalChunks(op, { start: 0, end: 18 }, draw, (m) => void all.push(m.mean, m.m2));
    const tail: Float64Array[] = [];
    await hutchinsonDiagonalChunks(op, { start: 8, end: 18 }, draw, (m) => void tail.push(m.mean, m.m2));
    assert.deepEqual(tail, all.slice(4));
  });
});

describe('diagonal_estimate statistics in groups of block chunks', () => {
  const MiB = 1024 * 1024;

  it('G is the least number of chunks per group whose rows fit the budget, at least one row', () => {
    // The brief's example: P = 1M, 100k probes in blocks of 32: 3125 chunks, 4 rows of 16 MB fit in 64 MiB.
    assert.equal(DIAGONAL_STATISTICS_BUDGET, 64 * MiB);
    assert.equal(diagonalGroupChunks(100_000, 32, 1_000_000), 782);
    assert.equal(diagonalGroupChunks(150, 32, 96), 1, 'small jobs keep one block chunk per group');
    assert.equal(diagonalGroupChunks(1000, 32, 100_000_000), 32, 'one row when a row exceeds the budget');
    for (const probes of [1, 5, 37, 100, 1000, 100_000, 1e9]) {
      for (const blockSize of [1, 4, 32]) {
        for (const numParams of [1, 20, 96, 10_000, 1_000_000, 5_000_000]) {
          for (const budget of [1, 960, MiB, DIAGONAL_STATISTICS_BUDGET]) {
            const g = diagonalGroupChunks(probes, blockSize, numParams, budget);
            const rows = (gg: number) => Math.ceil(probes / (gg * blockSize));
            const allowed = Math.max(1, Math.floor(budget / (16 * numParams)));
            const what = `${probes} probes, blocks of ${blockSize}, P = ${numParams}, budget ${budget}`;
            assert.ok(Number.isInteger(g) && g >= 1, what);
            assert.ok(rows(g) <= allowed, `${what}: ${rows(g)} rows of G = ${g}, ${allowed} allowed`);
            if (g > 1) assert.ok(rows(g - 1) > allowed, `${what}: G = ${g} is not the least`);
          }
        }
      }
    }
  });

  const N = 20;
  const A = randomSymmetric(N, 7);
  type Spec = SpecOf<'diagonal_estimate'>;
  const spec = (probes: number) => ({ name: 'diagonal_estimate', curvature: 'hessian', probes }) as Spec;
  function context(blockSize: number, seed: number): MethodContext {
    return {
      objective: { numParams: N } as Objective,
      operator: () => blockOperator(A, N, blockSize),
      progress: new Progress(),
      rng: createRng(seed),
      seed,
      maxDenseBytes: MiB,
    };
  }

  // 37 probes in blocks of 4: 10 chunks. A row is 16·20 = 320 bytes.
  for (const [rowsAllowed, g] of [
    [3, 4],
    [5, 2],
    [1, 10],
    [10, 1],
  ]) {
    it(`a budget of ${rowsAllowed} rows (G = ${g}): 1, 2 and 3 pieces equal the single run exactly`, async () => {
      const probes = 37;
      const budget = rowsAllowed * 16 * N + 15;
      assert.equal(diagonalGroupChunks(probes, 4, N, budget), g);
      const single = await diagonalEstimateWith(budget)(context(4, 3), spec(probes));
      const split = diagonalEstimateSplitWith(budget);
      const plan = split.plan(context(4, 3), spec(probes));
      assert.ok(plan);
      assert.equal(plan.chunk, g * 4, 'the plan chunk is a group of G block chunks');
      for (const count of [1, 2, 3]) {
        const parts: PartialResult[] = [];
        for (let index = 0; index < count; index++) {
          const { start, end } = pieceRange(plan, { index, count });
          if (start < end) parts.push(await split.run(context(4, 3), spec(probes), start, end));
        }
        const rows = parts.reduce((s, p) => s + p.arrays.counts.shape[0], 0);
        assert.equal(rows, Math.ceil(probes / (g * 4)), `${count} pieces: one row per group`);
        assert.ok(rows <= rowsAllowed, `${count} pieces: ${rows} rows within the budget`);
        for (const p of parts) assert.deepEqual(p.arrays.mean.shape, [p.arrays.counts.shape[0], N]);
        const combined = await split.finish(context(4, 3), spec(probes), parts);
        assertSameArrays(single, combined, `${count} pieces`);
      }
      // One chunk per group is the flat chunk merge, bit for bit (the outputs of small jobs are unchanged); more
      // change only the order of the float64 reductions, so they agree with it to rounding (the float64
      // meanStandardError of G = 4 differs from it in the last place: the summary comparison above is that sensitive).
      const flat = emptyMoments(N);
      await hutchinsonDiagonalChunks(
        blockOperator(A, N, 4),
        { start: 0, end: probes },
        (j) => derivedRng(3, j).rademacherVector(N),
        (m) => mergeMoments(flat, m),
      );
      const r = diagonalFromMoments(flat);
      const diagonal = single.arrays['diagonal.npy'].data;
      const stderr = single.arrays['diagonal_stderr.npy'].data;
      if (g === 1) {
        assert.deepEqual(diagonal, Float32Array.from(r.diagonal));
        assert.deepEqual(stderr, Float32Array.from(r.standardError));
      }
      for (let i = 0; i < N; i++) {
        const scale = Math.max(Math.abs(r.diagonal[i]), r.standardError[i]);
        assert.ok(Math.abs(diagonal[i] - r.diagonal[i]) <= 1e-6 * scale, `entry ${i}: mean`);
        assert.ok(Math.abs(stderr[i] - r.standardError[i]) <= 1e-6 * r.standardError[i], `entry ${i}: se`);
      }
    });
  }
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`split diagonals and finite differences on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    // cnn_conv2d_relu_maxpool_cce: no factor route, block copies of 32 (P = 96: 3 column chunks, 12 of 8 columns
    // for finite differences); mlp_relu_mse's operators also take blocks of 32 (P = 51).
    const cases: Array<[string, MethodSpecInput]> = [
      ['cnn_conv2d_relu_maxpool_cce', { name: 'diagonal' }],
      [
        'cnn_conv2d_relu_maxpool_cce',
        { name: 'diagonal', curvature: 'fisher', fisherType: 'mc', samples: 2 },
      ],
      ['cnn_conv2d_relu_maxpool_cce', { name: 'diagonal_estimate', probes: 150 }],
      ['mlp_relu_mse', { name: 'diagonal_estimate', curvature: 'ggn', probes: 100 }],
      ['cnn_conv2d_relu_maxpool_cce', { name: 'finite_difference' }],
      // Steps wide enough to straddle relu and max-pool kinks: columns taken one-sided, from the gradient at θ₀.
      ['cnn_conv2d_relu_maxpool_cce', { name: 'finite_difference', step: 0.05 }],
      ['mlp_relu_mse', { name: 'finite_difference', step: 1 }],
    ];
    for (const [name, method] of cases) {
      it(`${name} ${JSON.stringify(method)}: 2 and 5 pieces (some empty) equal the single run exactly`, async () => {
        const c = loadGoldenCase(name);
        const req = { ...c.request, method, seed: 11 };
        const single = await compute(req);
        assert.ok(
          single.verification.passed,
          `single run verified: ${single.verification.warnings.join('; ')}`,
        );
        if (method.name === 'finite_difference' && method.step) {
          assert.ok((single.summary.kinkColumns as number) > 0, 'some columns straddle a kink');
        }
        const first = await computePiece(req, { index: 0, count: 2 });
        assert.equal(first.kind, 'partial', 'the request splits');
        for (const count of [2, 5]) assertSameResult(single, await viaPieces(req, count), `${count} pieces`);
      });
    }

    for (const [name, method] of [
      ['mlp_relu_mse', { name: 'diagonal' }],
      ['mlp_relu_mse', { name: 'diagonal', curvature: 'ggn' }],
      ['cnn_conv2d_relu_maxpool_cce', { name: 'diagonal', curvature: 'ggn' }],
    ] as Array<[string, MethodSpecInput]>) {
      it(`${name} ${JSON.stringify(method)} (the factor or the Jacobian) runs whole in piece 0`, async () => {
        const c = loadGoldenCase(name);
        const req = { ...c.request, method };
        const first = await computePiece(req, { index: 0, count: 3 });
        const second = await computePiece(req, { index: 1, count: 3 });
        assert.equal(first.kind, 'whole');
        assert.equal(second.kind, 'empty');
        if (first.kind === 'whole') {
          assert.notEqual(first.result.summary.algorithm, 'hvp-unit-vectors');
          assertSameResult(await compute(req), first.result, 'whole in piece 0');
        }
      });
    }

    it('the diagonal estimate depends on the seed, not on the pieces', async () => {
      const c = loadGoldenCase('cnn_conv2d_relu_maxpool_cce');
      const method: MethodSpecInput = { name: 'diagonal_estimate', probes: 40 };
      const a = await compute({ ...c.request, method, seed: 1 });
      const b = await compute({ ...c.request, method, seed: 2 });
      const bytes = (r: typeof a) => Buffer.from(r.arrays['diagonal.npy'].data.buffer);
      assert.ok(!bytes(a).equals(bytes(b)), 'two seeds, two estimates');
      assert.notEqual(a.summary.meanStandardError, b.summary.meanStandardError);
      assertSameResult(a, await viaPieces({ ...c.request, method, seed: 1 }, 2), 'seed 1 in 2 pieces');
    });
  });
}
