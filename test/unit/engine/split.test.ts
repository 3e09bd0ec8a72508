/**
 * Split jobs in the engine: a request computed as 2 or 5 pieces (`computePiece`) and combined
 * (`compute(req, {parts})`) gives exactly the single run's result: the same bytes for dense columns, the same
 * estimate for a seeded Hutchinson trace (tolerance 0: each unit is computed by the same block products, and each
 * probe draws from its own stream). Routes that do not split run whole in piece 0.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { compute, computePiece } from '../../../src/engine/compute.js';
import { initBackend } from '../../../src/engine/backend.js';
import { pieceRange } from '../../../src/engine/methods/split.js';
import type { MethodSpecInput } from '../../../src/contract/request-schema.js';
import { loadGoldenCase } from '../../helpers/golden.js';
import { assertSameResult, viaPieces } from '../../helpers/pieces.js';

describe('pieceRange', () => {
  it('gives whole chunks, contiguous, covering every unit once, for any count', () => {
    for (const [units, chunk] of [
      [100, 8],
      [7, 32],
      [64, 32],
      [1, 1],
      [33, 4],
    ]) {
      for (let count = 1; count <= 12; count++) {
        let next = 0;
        for (let index = 0; index < count; index++) {
          const { start, end } = pieceRange({ unit: 'columns', units, chunk }, { index, count });
          assert.equal(
            start,
            next,
            `${units}/${chunk}, piece ${index} of ${count} starts where the last ended`,
          );
          assert.ok(start === units || start % chunk === 0, 'starts on a chunk (or is an empty last piece)');
          assert.ok(end === units || end % chunk === 0, 'ends on a chunk or at the end');
          next = end;
        }
        assert.equal(next, units);
      }
    }
    // 13 chunks of 8 probes: 7 and 6.
    assert.deepEqual(pieceRange({ unit: 'probes', units: 100, chunk: 8 }, { index: 1, count: 2 }), {
      start: 56,
      end: 100,
    });
    // Fewer chunks than pieces: the first pieces get them.
    assert.deepEqual(pieceRange({ unit: 'probes', units: 40, chunk: 32 }, { index: 2, count: 3 }), {
      start: 40,
      end: 40,
    });
    assert.throws(
      () => pieceRange({ unit: 'probes', units: 10, chunk: 2 }, { index: 2, count: 2 }),
      RangeError,
    );
  });
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`split jobs on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    const cases: Array<[string, MethodSpecInput]> = [
      ['cnn_conv2d_relu_maxpool_cce', { name: 'hessian' }],
      ['cnn_conv2d_relu_maxpool_cce', { name: 'hessian', blocks: 'layer' }],
      ['cnn_conv2d_relu_maxpool_cce', { name: 'fisher', fisherType: 'mc', samples: 2 }],
      [
        'cnn_conv2d_relu_maxpool_cce',
        { name: 'trace', estimator: 'hutchinson', curvature: 'hessian', probes: 37 },
      ],
      ['cnn_conv2d_relu_maxpool_cce', { name: 'trace', estimator: 'exact', curvature: 'ggn' }],
      ['embedding_gap_dense', { name: 'ggn' }],
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
        for (const count of [2, 5]) assertSameResult(single, await viaPieces(req, count), `${count} pieces`);
      });
    }

    it('the Hutchinson trace depends on the seed, not on the pieces', async () => {
      const c = loadGoldenCase('cnn_conv2d_relu_maxpool_cce');
      const method: MethodSpecInput = { name: 'trace', estimator: 'hutchinson', probes: 12 };
      const a = await compute({ ...c.request, method, seed: 1 });
      const b = await compute({ ...c.request, method, seed: 2 });
      assert.notEqual(a.summary.trace, b.summary.trace);
      // Probe j is the same in any run: 12 probes' first 6 samples are those of a 6-probe run.
      const six = await compute({ ...c.request, method: { ...method, probes: 6 }, seed: 1 });
      assert.notEqual(six.summary.trace, a.summary.trace);
      const first = await computePiece({ ...c.request, method, seed: 1 }, { index: 0, count: 2 });
      assert.equal(first.kind, 'partial');
      if (first.kind === 'partial') {
        const samples = first.partial.arrays.values.data as Float64Array;
        const mean = samples.slice(0, 6).reduce((s, x) => s + x, 0) / 6;
        assert.ok(Math.abs(mean - (six.summary.trace as number)) <= 1e-12 * Math.abs(mean), 'same probes');
      }
    });

    it('a route that does not split (the factor route of a Dense chain) runs whole in piece 0', async () => {
      const c = loadGoldenCase('mlp_relu_mse');
      const req = { ...c.request, method: { name: 'hessian' } as MethodSpecInput };
      const first = await computePiece(req, { index: 0, count: 3 });
      const second = await computePiece(req, { index: 1, count: 3 });
      assert.equal(first.kind, 'whole');
      assert.equal(second.kind, 'empty');
      if (first.kind === 'whole') assertSameResult(await compute(req), first.result, 'whole in piece 0');
    });
  });
}
