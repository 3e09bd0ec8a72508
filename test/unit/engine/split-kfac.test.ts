/**
 * KFAC in pieces (`kfacSplit`): one unit (the factors), so only groups of examples spread it.
 * (1) A single run through the split is today's: 1 and 3 pieces (two empty) give the single run's bytes, summary
 *     and verification (tolerance 0), and A, which does not depend on the reduction, has the same bytes under
 *     reduction sum (where the piece carries N·A and `finish` divides by N, exactly) as under mean.
 * (2) Groups of examples: a batch cut into 2 groups of unequal size, each piece run on its group with the loss as
 *     that group's share (`groupShare`), summed with the group weights (`combineGroups`) and finished on the whole
 *     batch, gives every artifact of the whole-batch run to 1e-5 relative (Frobenius; the factors are float32
 *     sums of the groups' float32-valued factors instead of one float32 reduction; measured ≤ 1.3e-6), for mean and
 *     sum reduction with l2 > 0 (added once, by `finish`) and vectors (products and damped inverse products).
 * (3) The Monte-Carlo factors (targets sampled from one stream over the batch) do not add over examples.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { encodeNpy } from '../../../src/contract/data/npy.js';
import type { PieceReport } from '../../../src/contract/job.js';
import type { NdArray } from '../../../src/contract/ndarray.js';
import type { ComputeRequest, ComputeResult } from '../../../src/contract/types.js';
import { initBackend } from '../../../src/engine/backend.js';
import { compute, computePiece } from '../../../src/engine/compute.js';
import { kfacSplit } from '../../../src/engine/methods/kfac.js';
import type { MethodContext, SpecOf } from '../../../src/engine/methods/method.js';
import { combineGroups, groupShare, partialReport } from '../../../src/queue/processor.js';
import { loadGoldenCase, relativeError } from '../../helpers/golden.js';
import { assertSameResult, viaPieces } from '../../helpers/pieces.js';

/** Combined groups against the whole batch (relative Frobenius, per artifact). */
const TOLERANCE = 1e-5;

/** Examples [start, end) of an array with the batch axis first. */
function examplesOf(a: NdArray, start: number, end: number): NdArray {
  const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
  return {
    dtype: a.dtype,
    shape: [end - start, ...a.shape.slice(1)],
    data: a.data.slice(start * per, end * per) as NdArray['data'],
  };
}

/** `count` deterministic vectors of length P. */
const vectorsOf = (count: number, p: number) =>
  Array.from({ length: count }, (_, i) => Array.from({ length: p }, (_, j) => Math.sin((i + 1) * (j + 0.5))));

/**
 * The request's batch as groups of `sizes` examples (one dataset each), every group a piece with its share of the
 * loss, combined as the worker does (weighted sum of the pieces' arrays), then finished on the whole batch.
 */
async function viaGroups(req: ComputeRequest, sizes: number[]): Promise<ComputeResult> {
  const files = new Map<string, Uint8Array>();
  const reports: PieceReport[] = [];
  let offset = 0;
  for (let index = 0; index < sizes.length; index++) {
    const group = { index, count: sizes.length };
    const share = groupShare(req.loss as any, sizes, group);
    assert.equal(share.examples, sizes[index]);
    const end = offset + sizes[index];
    const groupReq: ComputeRequest = {
      ...req,
      inputs: examplesOf(req.inputs as NdArray, offset, end),
      targets: examplesOf(req.targets as NdArray, offset, end),
      loss: share.loss as ComputeRequest['loss'],
    };
    offset = end;
    const out = await computePiece(groupReq, { index: 0, count: 1 }, { additiveOnly: true });
    assert.equal(out.kind, 'partial', `group ${index}: a partial result`);
    if (out.kind !== 'partial') throw new Error('unreachable');
    assert.deepEqual(out.plan, { unit: 'factors', units: 1, chunk: 1 });
    const reportFiles = Object.entries(out.partial.arrays).map(([array, value]) => {
      const name = `pieces/${index}/${array}.npy`;
      files.set(name, encodeNpy(value));
      return { array, name };
    });
    reports.push(
      partialReport(index, out, reportFiles, { ...group, examples: share.examples, weight: share.weight }),
    );
  }
  assert.equal(offset, (req.inputs as NdArray).shape[0], 'the groups cover the batch');
  const parts = await combineGroups(reports, async (name) => files.get(name)!);
  assert.equal(parts.length, 1);
  return compute(req, { parts });
}

/** Every number in a summary, by path, for a tolerant comparison. */
function numbersOf(value: unknown, path = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof value === 'number') out.set(path, value);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) numbersOf(v, `${path}/${k}`, out);
  }
  return out;
}

/** Same artifacts to TOLERANCE, same summary (numbers to TOLERANCE), both verified. */
function assertCloseResult(want: ComputeResult, got: ComputeResult, what: string): number {
  assert.deepEqual(Object.keys(got.arrays), Object.keys(want.arrays), `${what}: artifact names`);
  let worst = 0;
  for (const [name, array] of Object.entries(want.arrays)) {
    assert.deepEqual(got.arrays[name].shape, array.shape, `${what}: ${name} shape`);
    const err = relativeError(got.arrays[name].data, array.data);
    worst = Math.max(worst, err);
    assert.ok(err <= TOLERANCE, `${what}: ${name} relative error ${err.toExponential(2)}`);
  }
  const strip = (s: Record<string, unknown>) =>
    JSON.parse(JSON.stringify(s, (_k, v: unknown) => (typeof v === 'number' ? 0 : v)));
  assert.deepEqual(strip(got.summary), strip(want.summary), `${what}: summary apart from numbers`);
  const a = numbersOf(want.summary);
  const b = numbersOf(got.summary);
  for (const [path, x] of a) {
    const y = b.get(path)!;
    assert.ok(
      Math.abs(x - y) <= TOLERANCE * Math.max(1, Math.abs(x)),
      `${what}: summary ${path} ${x} vs ${y}`,
    );
  }
  assert.ok(want.verification.passed, `${what}: whole run verified ${JSON.stringify(want.verification)}`);
  assert.ok(got.verification.passed, `${what}: combined run verified ${JSON.stringify(got.verification)}`);
  return worst;
}

/** Golden Dense chains KFAC covers (softmax, sigmoid, MSE), with their batch cut into two unequal groups. */
const CASES = [
  { name: 'mlp_relu_cce_fused', sizes: [2, 4] },
  { name: 'mlp_sigmoid_bce_fused', sizes: [4, 2] },
  { name: 'mlp_relu_mse', sizes: [2, 3] },
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`kfac in pieces on the ${backend} backend`, () => {
    before(async () => {
      await initBackend(backend);
    });

    it('a single run through the split: 1 and 3 pieces equal it exactly; A has the same bytes under sum', async () => {
      for (const { name } of CASES) {
        const c = loadGoldenCase(name);
        const vectors = vectorsOf(2, c.numParams);
        for (const method of [
          { name: 'kfac' },
          { name: 'kfac', vectors, damping: 0.1 },
          { name: 'kfac', type: 'mc', samples: 3 },
        ] as const) {
          const req = { ...c.request, method, seed: 5 } as ComputeRequest;
          const single = await compute(req);
          assert.ok(single.verification.passed, JSON.stringify(single.verification));
          for (const count of [1, 3])
            assertSameResult(
              single,
              await viaPieces(req, count),
              `${name} ${JSON.stringify(method)} ${count}`,
            );
        }
        const mean = await compute({ ...c.request, method: { name: 'kfac' } });
        const sum = await compute({
          ...c.request,
          loss: { ...c.request.loss, reduction: 'sum' },
          method: { name: 'kfac' },
        });
        const n = (c.request.inputs as NdArray).shape[0];
        for (const [key, array] of Object.entries(mean.arrays)) {
          if (key.endsWith('/A.npy')) {
            assert.ok(
              Buffer.from(sum.arrays[key].data.buffer).equals(Buffer.from(array.data.buffer)),
              `${name} ${key}: the same bytes under sum and mean`,
            );
          } else {
            // B carries the reduction scale: N times the mean's.
            const scaled = Float64Array.from(array.data, (x) => n * x);
            assert.ok(relativeError(sum.arrays[key].data, scaled) <= 1e-6, `${name} ${key}: sum = N · mean`);
          }
        }
      }
    });

    for (const reduction of ['mean', 'sum'] as const) {
      for (const { name, sizes } of CASES) {
        it(`${name}, reduction ${reduction}, l2 0.05: groups of ${sizes.join(' and ')} examples add up to the batch (≤ ${TOLERANCE})`, async () => {
          const c = loadGoldenCase(name);
          assert.equal((c.request.inputs as NdArray).shape[0], sizes[0] + sizes[1]);
          const loss = { ...c.request.loss, reduction, l2: 0.05 };
          let worst = 0;
          for (const method of [
            { name: 'kfac' },
            { name: 'kfac', vectors: vectorsOf(2, c.numParams), damping: 0.1 },
          ] as const) {
            const req = { ...c.request, loss, method, seed: 7 } as ComputeRequest;
            const whole = await compute(req);
            worst = Math.max(
              worst,
              assertCloseResult(whole, await viaGroups(req, sizes), JSON.stringify(method)),
            );
            if (method.vectors) {
              assert.equal((whole.summary.inverse as { l2: number }).l2, 0.05, 'l2 of the whole batch, once');
            }
          }
          if (process.env.KFAC_SHOW)
            console.log(`${backend} ${name} ${reduction}: worst ${worst.toExponential(2)}`);
          // One group alone is not the batch: the combination is not trivially right.
          const first = await compute({
            ...c.request,
            loss,
            inputs: examplesOf(c.request.inputs as NdArray, 0, sizes[0]),
            targets: examplesOf(c.request.targets as NdArray, 0, sizes[0]),
            method: { name: 'kfac' },
          });
          const whole = await compute({ ...c.request, loss, method: { name: 'kfac' } });
          const key = Object.keys(whole.arrays).find((k) => k.endsWith('/A.npy'))!;
          assert.ok(relativeError(first.arrays[key].data, whole.arrays[key].data) > 1e-3, 'a group differs');
        });
      }
    }

    it('mc: not additive; a group piece computes nothing and says the job runs whole', async () => {
      const spec = { name: 'kfac', type: 'mc', samples: 4, damping: 0 } as SpecOf<'kfac'>;
      assert.equal(kfacSplit.additive!({} as MethodContext, spec), false);
      assert.equal(kfacSplit.additive!({} as MethodContext, { ...spec, type: 'exact' }), true);
      const c = loadGoldenCase('mlp_relu_cce_fused');
      const mc = await computePiece(
        { ...c.request, method: { name: 'kfac', type: 'mc', samples: 4 } },
        { index: 0, count: 1 },
        { additiveOnly: true },
      );
      assert.deepEqual(mc, { kind: 'empty', plan: { unit: 'factors', units: 1, chunk: 1 }, runsWhole: true });
      const exact = await computePiece(
        { ...c.request, method: { name: 'kfac' } },
        { index: 0, count: 1 },
        { additiveOnly: true },
      );
      assert.equal(exact.kind, 'partial');
      if (exact.kind === 'partial') {
        assert.deepEqual(Object.keys(exact.partial.arrays), ['A_0', 'B_0', 'A_1', 'B_1']);
        for (const a of Object.values(exact.partial.arrays)) assert.equal(a.dtype, 'float64');
      }
    });
  });
}
