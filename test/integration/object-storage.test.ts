/**
 * The service on S3-compatible object storage (a real S3 API server, s3rver), over real HTTP, Redis and worker
 * processes: the API and the worker each get a DATA_DIR of their own, as on two hosts that share nothing but Redis
 * and the bucket. Uploads, the job and its download go through the bucket; neither directory receives a file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { loadGoldenCase, relativeError } from '../helpers/golden.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../helpers/s3-server.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('object storage shared by hosts (STORAGE_URL=s3://...)', () => {
  let s3: S3Server;
  let stack: Stack;
  let client: Client;
  let workerDir: string;
  const bucket = 'hessian-it';
  const prefix = `run-${process.pid}`;

  before(async () => {
    s3 = await startS3Server();
    workerDir = mkdtempSync(join(tmpdir(), 'hessian-worker-host-'));
    stack = await startStack({ workers: 1, env: s3.env(bucket, prefix), workerEnv: { DATA_DIR: workerDir } });
    client = new Client(stack.url);
  });
  after(async () => {
    await stack?.close();
    await s3?.close();
    rmSync(workerDir, { recursive: true, force: true });
  });

  it('reports the bucket as its storage and is ready', async () => {
    const ready = await client.get('/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.checks.storage, 'ok');
  });

  it('runs a job whose uploads and results live only in the bucket', async () => {
    const ids = await uploadGolden(client, 'mlp_tanh_cce_fused');
    const job = await client.runJob({
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'hessian' },
    });
    const hessian = await client.download(job.result.artifacts[0].href);
    const golden = loadGoldenCase('mlp_tanh_cce_fused');
    // float32 against float64, the golden suite's bound for dense results.
    assert.ok(relativeError(hessian.data as Float32Array, golden.hessian) <= 1e-4);

    const s3client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
    try {
      const listed = await s3client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
      const keys = (listed.Contents ?? []).map((o) => o.Key!);
      for (const expected of [
        `${prefix}/models/${ids.modelId}/model.json`,
        `${prefix}/models/${ids.modelId}/.complete`,
        `${prefix}/datasets/${ids.datasetId}/inputs.npy`,
        `${prefix}/results/${job.id}/hessian.npy`,
      ]) {
        assert.ok(keys.includes(expected), `${expected} in ${JSON.stringify(keys)}`);
      }
    } finally {
      s3client.destroy();
    }
    assert.deepEqual(filesUnder(workerDir), [], "the worker's own DATA_DIR stays empty");
    assert.deepEqual(filesUnder(stack.config.dataDir), [], "the API's DATA_DIR stays empty");
  });

  it('deleting an upload removes its objects, and a job on it fails as missing input', async () => {
    const ids = await uploadGolden(client, 'mlp_relu_mse');
    const removed = await client.delete(`/v1/datasets/${ids.datasetId}`);
    assert.ok([200, 204].includes(removed.status), JSON.stringify(removed.body));
    const submitted = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'diagonal' },
    });
    assert.equal(submitted.status, 404, JSON.stringify(submitted.body));
  });
});
