/**
 * The `kfac` method over real HTTP, Redis and a worker process: nested artifact names (`kfac/<i>-<layer>/A.npy`) are
 * written under the job's result directory and downloaded through the artifact route (percent-encoded, as the job's
 * `href` gives them), and a model kfac does not cover (convolutions) is refused at submission with a 422.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compute } from '../../src/engine/index.js';
import { loadGoldenCase, relativeError } from '../helpers/golden.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

describe('kfac jobs over HTTP', () => {
  let stack: Stack;
  let client: Client;

  before(async () => {
    stack = await startStack({ workers: 1 });
    client = new Client(stack.url);
  });
  after(async () => stack?.close());

  it('computes the Kronecker factors and serves kfac/<index>-<layer>/A.npy', async () => {
    const ids = await uploadGolden(client, 'mlp_relu_cce_fused');
    const vectors = [Array.from({ length: ids.numParams }, (_, i) => Math.sin(i + 1))];
    const submitted = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'kfac', vectors, damping: 0.01 },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await client.waitForJob(submitted.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result.summary.approximation, true);
    assert.equal(
      job.result.summary.verification.passed,
      true,
      JSON.stringify(job.result.summary.verification),
    );
    const names = job.result.artifacts.map((a: { name: string }) => a.name);
    assert.deepEqual(names, [
      'kfac/0-dense/A.npy',
      'kfac/0-dense/B.npy',
      'kfac/1-dense_1/A.npy',
      'kfac/1-dense_1/B.npy',
      'products.npy',
      'inverse_products.npy',
    ]);
    const artifact = job.result.artifacts[0];
    assert.equal(artifact.href, `/v1/jobs/${job.id}/artifacts/kfac%2F0-dense%2FA.npy`);

    const first = await client.get(artifact.href);
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-disposition')!, /filename="kfac_0-dense_A\.npy"/);
    const downloaded = await client.download(artifact.href);
    assert.deepEqual(downloaded.shape, [5, 5]);
    const golden = loadGoldenCase('mlp_relu_cce_fused');
    const local = await compute(
      { ...golden.request, method: { name: 'kfac', vectors, damping: 0.01 } },
      { backend: 'cpu' },
    );
    // Same code and inputs; the worker's backend may differ from cpu only by float32 rounding.
    assert.ok(
      relativeError(downloaded.data as Float32Array, local.arrays['kfac/0-dense/A.npy'].data) <= 1e-5,
    );
    for (const a of job.result.artifacts) {
      const arr = await client.download(a.href);
      assert.deepEqual(arr.shape, a.shape, a.name);
    }

    // Unencoded slashes are not the artifact route; traversal never reaches the filesystem.
    assert.equal((await client.get(`/v1/jobs/${job.id}/artifacts/kfac/0-dense/A.npy`)).status, 404);
    for (const bad of ['..%2F..%2Fetc%2Fpasswd', 'kfac%2F..%2F..%2Fx.npy', 'kfac%2F0-dense%2FC.npy']) {
      const r = await client.get(`/v1/jobs/${job.id}/artifacts/${bad}`);
      assert.ok(r.status === 400 || r.status === 404, `${bad}: ${r.status}`);
    }
  });

  it('refuses a conv model at submission with a 422 naming the layer and what kfac covers', async () => {
    const ids = await uploadGolden(client, 'cnn_two_conv_maxpool');
    const r = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'kfac' },
    });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.code, 'invalid_method');
    assert.match(r.body.detail, /kfac covers .*Dense.*layer "conv2d" \(Conv2D\) is not one of them/);
  });
});
