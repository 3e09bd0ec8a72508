/**
 * The job lifecycle over real HTTP, real Redis and real worker processes: upload → job → poll → download, every
 * method, idempotent resubmission, listing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { after, before, describe, it } from 'node:test';
import { compute } from '../../src/engine/index.js';
import { METHOD_NAMES, type MethodSpecInput } from '../../src/contract/request-schema.js';
import { GOLDEN_DIR, loadGoldenCase, relativeError } from '../helpers/golden.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

const CASE = 'mlp_tanh_mse'; // P = 51: every method finishes in about a second

describe('jobs over HTTP with worker processes', () => {
  let stack: Stack;
  let client: Client;
  let ids: Awaited<ReturnType<typeof uploadGolden>>;

  before(async () => {
    stack = await startStack({ workers: 2 });
    client = new Client(stack.url);
    ids = await uploadGolden(client, CASE);
  });
  after(async () => stack?.close());

  const submit = (
    method: MethodSpecInput,
    extra: Record<string, unknown> = {},
    headers?: Record<string, string>,
  ) =>
    client.post(
      '/v1/jobs',
      { modelId: ids.modelId, datasetId: ids.datasetId, loss: ids.loss, method, ...extra },
      headers,
    );

  it('computes a Hessian that equals the engine run in-process and the float64 reference', async () => {
    const submitted = await submit({ name: 'hessian' });
    assert.equal(submitted.status, 202);
    assert.equal(submitted.headers.get('location'), `/v1/jobs/${submitted.body.id}`);
    assert.ok(Number(submitted.headers.get('retry-after')) >= 1);

    const job = await client.waitForJob(submitted.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress.fraction, 1);
    assert.ok(job.startedAt && job.finishedAt);
    assert.equal(job.result.summary.verification.passed, true);
    const artifact = job.result.artifacts.find((a: { name: string }) => a.name === 'hessian.npy');
    assert.deepEqual(artifact.shape, [51, 51]);

    const downloaded = await client.download(artifact.href);
    const golden = loadGoldenCase(CASE);
    const local = await compute({ ...golden.request, method: { name: 'hessian' } }, { backend: 'cpu' });
    // Same code, same backend, same inputs: only float32 summation order could differ, and it does not.
    assert.ok(relativeError(downloaded.data as Float32Array, local.arrays['hessian.npy'].data) <= 1e-6);
    // float32 curvature against the float64 PyTorch reference: relative Frobenius error 1e-4 (P = 51, tanh).
    assert.ok(relativeError(downloaded.data as Float32Array, golden.hessian) <= 1e-4);
  });

  it('accepts the batch as a JSON body or an .npz part and computes the same Hessian', async () => {
    const golden = loadGoldenCase(CASE);
    const nested = (a: { shape: number[]; data: ArrayLike<number> }) =>
      Array.from({ length: a.shape[0] }, (_, i) =>
        Array.from(a.data).slice(i * a.shape[1], (i + 1) * a.shape[1]),
      );
    const json = await client.post('/v1/datasets', {
      inputs: nested(golden.request.inputs as never),
      targets: nested(golden.request.targets as never),
    });
    assert.equal(json.status, 201, JSON.stringify(json.body));
    const npz = new FormData();
    const archive = zipSync({
      'inputs.npy': readFileSync(join(GOLDEN_DIR, CASE, 'inputs.npy')),
      'targets.npy': readFileSync(join(GOLDEN_DIR, CASE, 'targets.npy')),
    });
    npz.append('npz', new Blob([archive as BlobPart]), 'batch.npz');
    const viaNpz = await client.post('/v1/datasets', npz);
    assert.ok(viaNpz.status === 201 || viaNpz.status === 200, JSON.stringify(viaNpz.body));
    assert.equal(viaNpz.body.numExamples, json.body.numExamples);
    const hessians = [];
    for (const datasetId of [json.body.id, viaNpz.body.id]) {
      const r = await client.post('/v1/jobs', {
        modelId: ids.modelId,
        datasetId,
        loss: ids.loss,
        method: { name: 'hessian' },
      });
      const job = await client.waitForJob(r.body.id);
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      hessians.push(await client.download(job.result.artifacts[0].href));
    }
    // JSON numbers hold the float32 inputs exactly, so both batches are the same float32 values.
    assert.ok(relativeError(hessians[0].data as Float32Array, hessians[1].data as Float32Array) <= 1e-7);
  });

  it('streams artifacts with Content-Disposition and an ETag honoured by If-None-Match', async () => {
    const job = await client.waitForJob((await submit({ name: 'diagonal' })).body.id);
    const href = job.result.artifacts[0].href;
    const first = await client.get(href);
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-disposition')!, /attachment; filename="diagonal\.npy"/);
    const etag = first.headers.get('etag')!;
    assert.ok(etag);
    const again = await client.get(href, { 'if-none-match': etag });
    assert.equal(again.status, 304);
    const missing = await client.get(`/v1/jobs/${job.id}/artifacts/hessian.npy`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'artifact_not_found');
  });

  it('reaches every method of the engine vocabulary', async () => {
    const P = ids.numParams;
    const row = (k: number) => Array.from({ length: P }, (_, i) => Math.sin(i + k));
    const uploadedVectors = await client.post('/v1/arrays', { data: [row(3), row(4)] });
    assert.equal(uploadedVectors.status, 201);
    const specs: Record<
      string,
      { method: MethodSpecInput; extra?: Record<string, unknown>; files: string[] }
    > = {
      hessian: { method: { name: 'hessian', blocks: 'layer' }, files: ['hessian.npy'] },
      ggn: { method: { name: 'ggn' }, files: ['ggn.npy'] },
      hvp: { method: { name: 'hvp', vectors: [row(1), row(2)] }, files: ['hvp.npy'] },
      ggnvp: {
        method: { name: 'ggnvp' },
        extra: { vectorsId: uploadedVectors.body.id },
        files: ['ggnvp.npy'],
      },
      diagonal: { method: { name: 'diagonal', curvature: 'ggn' }, files: ['diagonal.npy'] },
      diagonal_estimate: { method: { name: 'diagonal_estimate', probes: 10 }, files: ['diagonal.npy'] },
      trace: { method: { name: 'trace', probes: 10 }, files: [] },
      eigen: { method: { name: 'eigen', k: 2 }, files: ['eigenvalues.npy', 'eigenvectors.npy'] },
      density: { method: { name: 'density', probes: 2, steps: 10, gridPoints: 50 }, files: ['density.npy'] },
      inverse_hvp: {
        method: { name: 'inverse_hvp', vectors: [row(1)], damping: 1 },
        files: ['inverse_hvp.npy'],
      },
      finite_difference: { method: { name: 'finite_difference' }, files: ['hessian.npy'] },
      fisher: { method: { name: 'fisher', fisherType: 'empirical' }, files: ['fisher.npy'] },
      fvp: {
        method: { name: 'fvp', samples: 4 },
        extra: { vectorsId: uploadedVectors.body.id },
        files: ['fvp.npy'],
      },
      kfac: {
        method: { name: 'kfac', damping: 0.1 },
        extra: { vectorsId: uploadedVectors.body.id },
        files: ['kfac/0-dense/A.npy', 'kfac/1-dense_1/B.npy', 'products.npy', 'inverse_products.npy'],
      },
    };
    assert.deepEqual(Object.keys(specs).sort(), [...METHOD_NAMES].sort(), 'a method was added to the engine');
    const submitted = await Promise.all(
      Object.entries(specs).map(async ([name, s]) => {
        const r = await submit(s.method, s.extra ?? {}, undefined);
        assert.equal(r.status, 202, `${name}: ${JSON.stringify(r.body)}`);
        return [name, r.body.id as string] as const;
      }),
    );
    for (const [name, id] of submitted) {
      const job = await client.waitForJob(id);
      assert.equal(job.status, 'succeeded', `${name}: ${JSON.stringify(job.error)}`);
      const names = job.result.artifacts.map((a: { name: string }) => a.name);
      for (const f of specs[name].files) assert.ok(names.includes(f), `${name} lacks ${f} (has ${names})`);
      for (const a of job.result.artifacts) {
        const arr = await client.download(a.href);
        assert.deepEqual(arr.shape, a.shape, `${name}/${a.name}`);
      }
    }
  });

  it('returns the first job when a request is resubmitted with the same Idempotency-Key', async () => {
    const key = { 'idempotency-key': `k-${Date.now()}` };
    const first = await submit({ name: 'trace', estimator: 'exact' }, {}, key);
    const second = await submit({ name: 'trace', estimator: 'exact' }, {}, key);
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.body.id, first.body.id);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    const different = await submit({ name: 'trace', estimator: 'hutchinson' }, {}, key);
    assert.equal(different.status, 409);
    assert.equal(different.body.code, 'idempotency_key_reused');
    const job = await client.waitForJob(first.body.id);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.attempts, 1);
  });

  it('lists jobs newest first with a cursor and a status filter', async () => {
    const page1 = await client.get('/v1/jobs?limit=2');
    assert.equal(page1.status, 200);
    assert.equal(page1.body.items.length, 2);
    assert.ok(page1.body.nextCursor);
    const page2 = await client.get(`/v1/jobs?limit=2&cursor=${encodeURIComponent(page1.body.nextCursor)}`);
    const seen = new Set(page1.body.items.map((j: { id: string }) => j.id));
    for (const j of page2.body.items) assert.ok(!seen.has(j.id), 'pages overlap');
    assert.ok(page1.body.items[0].createdAt >= page1.body.items[1].createdAt);
    const succeeded = await client.get('/v1/jobs?status=succeeded&limit=200');
    assert.ok(succeeded.body.items.length >= 3);
    assert.ok(succeeded.body.items.every((j: { status: string }) => j.status === 'succeeded'));
  });
});
