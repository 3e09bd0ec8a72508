/**
 * Split jobs of the vector methods: `hvp`, `ggnvp` and `fvp` by vectors, `inverse_hvp` by right-hand sides (CG's
 * groups) and `density` by SLQ runs (its waves), computed as 2 and 5 pieces (`computePiece`) and combined
 * (`compute(req, {parts})`), give exactly the single run's result. Tolerance 0 throughout: the same artifact bytes,
 * summary (norms, every solve's iterations and residuals, every probe's nodes and weights) and verification outcome,
 * since each unit is computed by the same block products as in the single run and each SLQ probe draws from its own
 * stream (seed, j). 70 units span three chunks of the block size (32 on both cases here; each test asserts at least
 * two from the plan), so pieces split inside the request and the last chunk is a partial one. One vector runs whole
 * in piece 0.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { compute, computePiece } from '../../../src/engine/compute.js';
import { initBackend } from '../../../src/engine/backend.js';
import type { MethodSpecInput } from '../../../src/contract/request-schema.js';
import { loadGoldenCase } from '../../helpers/golden.js';
import { assertSameResult, viaPieces } from '../../helpers/pieces.js';

/** Units per request: at least two whole chunks of the block size and a partial one. */
const UNITS = 70;

/** `count` deterministic vectors of length P, no two parallel. */
function vectorsOf(count: number, P: number): number[][] {
  return Array.from({ length: count }, (_, i) =>
    Array.from({ length: P }, (_, j) => Math.sin((i + 1) * (j + 0.5))),
  );
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`split vector methods on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    // The CNN takes block copies (its products batch); the Dense chain takes the factor route's operators.
    for (const name of ['cnn_conv2d_relu_maxpool_cce', 'mlp_relu_mse']) {
      const c = loadGoldenCase(name);
      const vectors = vectorsOf(UNITS, c.numParams);
      const methods: MethodSpecInput[] = [
        { name: 'hvp', vectors },
        { name: 'ggnvp', vectors },
        { name: 'fvp', vectors, fisherType: 'mc', samples: 2 },
        { name: 'inverse_hvp', curvature: 'ggn', damping: 0.1, vectors },
        { name: 'density', probes: UNITS, steps: 12 },
      ];
      for (const method of methods) {
        it(`${name} ${method.name}: 2 and 5 pieces (some empty) equal the single run exactly`, async () => {
          const req = { ...c.request, method, seed: 11 };
          const first = await computePiece(req, { index: 0, count: 2 });
          assert.equal(first.kind, 'partial');
          if (first.kind === 'partial') {
            assert.equal(first.plan.units, UNITS);
            assert.ok(Math.ceil(UNITS / first.plan.chunk) >= 2, `${JSON.stringify(first.plan)}: ≥ 2 chunks`);
            assert.equal(first.partial.start, 0);
            assert.ok(first.partial.end < UNITS, 'the first of two pieces stops short of the last unit');
          }
          const single = await compute(req);
          assert.ok(
            single.verification.passed,
            `single run verified: ${single.verification.warnings.join('; ')}`,
          );
          for (const count of [2, 5])
            assertSameResult(single, await viaPieces(req, count), `${count} pieces`);
        });
      }
    }

    it('an inverse_hvp whose solves do not converge says so, in pieces as in a single run', async () => {
      const c = loadGoldenCase('cnn_conv2d_relu_maxpool_cce');
      const method: MethodSpecInput = {
        name: 'inverse_hvp',
        curvature: 'ggn',
        damping: 0.1,
        maxIter: 3,
        vectors: vectorsOf(40, c.numParams),
      };
      const req = { ...c.request, method, seed: 3 };
      const single = await compute(req);
      assert.equal(single.summary.converged, false);
      assert.match(single.summary.warning as string, /did not reach tol/);
      assert.equal(single.verification.passed, false);
      for (const count of [2, 5]) {
        const combined = await viaPieces(req, count);
        assertSameResult(single, combined, `${count} pieces`);
        assert.match(combined.verification.warnings.join('\n'), /VERIFICATION FAILED: inverse_hvp_residual/);
      }
    });

    it('one vector runs whole in piece 0', async () => {
      const c = loadGoldenCase('cnn_conv2d_relu_maxpool_cce');
      for (const method of [
        { name: 'hvp', vectors: vectorsOf(1, c.numParams) },
        { name: 'inverse_hvp', curvature: 'ggn', damping: 0.1, vectors: vectorsOf(1, c.numParams) },
      ] satisfies MethodSpecInput[]) {
        const req = { ...c.request, method };
        const first = await computePiece(req, { index: 0, count: 3 });
        const second = await computePiece(req, { index: 1, count: 3 });
        assert.equal(first.kind, 'whole', method.name);
        assert.equal(second.kind, 'empty', method.name);
        if (first.kind === 'whole')
          assertSameResult(await compute(req), first.result, `${method.name} whole`);
      }
    });

    it('the density depends on the seed, not on the pieces: probe j is the same in any run', async () => {
      const c = loadGoldenCase('cnn_conv2d_relu_maxpool_cce');
      const method = { name: 'density', probes: 40, steps: 8 } satisfies MethodSpecInput;
      const a = await compute({ ...c.request, method, seed: 1 });
      const b = await compute({ ...c.request, method, seed: 2 });
      assert.notDeepEqual(a.summary.probes, b.summary.probes);
      assert.ok(
        !Buffer.from(a.arrays['density.npy'].data.buffer).equals(
          Buffer.from(b.arrays['density.npy'].data.buffer),
        ),
        'the densities of seeds 1 and 2 differ',
      );
      // The first wave of a 40-probe run is a run of that many probes, and differs from seed 2's.
      const piece = await computePiece({ ...c.request, method, seed: 1 }, { index: 0, count: 2 });
      assert.equal(piece.kind, 'partial');
      const chunk = piece.kind === 'partial' ? piece.plan.chunk : 0;
      assert.ok(chunk > 1 && chunk < 40, `waves of ${chunk}`);
      const wave = await compute({ ...c.request, method: { ...method, probes: chunk }, seed: 1 });
      const probes = (r: typeof a) => r.summary.probes as unknown[];
      assert.deepEqual(probes(wave), probes(a).slice(0, chunk));
      assert.notDeepEqual(probes(wave), probes(b).slice(0, chunk));
    });
  });
}
