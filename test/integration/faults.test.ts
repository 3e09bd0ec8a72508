/**
 * Faults: a worker process dies mid-job; Redis goes away and comes back. Redis here is a private redis-server on a
 * random port (never the shared one), stopped and restarted by the test.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startRedisServer, type RedisServerHandle } from '../../src/queue/redis-server.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

/** Pids of live processes whose environment holds `NAME=value` (our workers and their sandboxed children). */
function processesWithEnv(entry: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(entry))
        pids.push(Number(name));
    } catch {
      // exited, or not ours
    }
  }
  return pids;
}

const waitFor = async (what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('a worker process killed mid-job', () => {
  let stack: Stack;
  let client: Client;

  before(async () => {
    stack = await startStack({ workers: 1 });
    client = new Client(stack.url);
  });
  after(async () => stack?.close());

  it('is recovered by another worker: the job completes and nothing is lost', async () => {
    const ids = await uploadGolden(client, 'mlp_tanh_mse');
    // About 6 s of work on one core (2.4 ms per probe), so the kill lands mid-job.
    const submitted = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'diagonal_estimate', probes: 2500 },
      seed: 7,
    });
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    await client.waitForJob(id, 30_000, (j) => j.progress.completed > 100);

    await stack.killWorker(stack.workers[0], 'SIGKILL');
    const marker = `QUEUE_PREFIX=${stack.config.queuePrefix}`;
    // The sandboxed child notices its parent is gone and exits instead of computing for nobody.
    await waitFor('orphaned processor to exit', () => processesWithEnv(marker).length === 0, 5000);
    assert.equal(
      (await client.get(`/v1/jobs/${id}`)).body.status,
      'running',
      'still locked by the dead worker',
    );

    await stack.startWorker();
    const job = await client.waitForJob(id, 60_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress.completed, job.progress.total);
    const diag = await client.download(
      job.result.artifacts.find((a: { name: string }) => a.name === 'diagonal.npy').href,
    );
    assert.deepEqual(diag.shape, [ids.numParams]);
  });
});

describe('Redis unavailable', () => {
  let redis: RedisServerHandle;
  let stack: Stack;
  let client: Client;

  before(async () => {
    redis = await startRedisServer();
    stack = await startStack({ workers: 1, env: { REDIS_URL: redis.url } });
    client = new Client(stack.url);
  });
  after(async () => {
    await stack?.close();
    await redis?.stop();
  });

  it('answers 503 with Retry-After, stays up, and recovers when Redis returns', async () => {
    const ids = await uploadGolden(client, 'linear_regression_mse');
    await redis.stop();

    const down = await client.get('/v1/jobs/00000000-0000-0000-0000-000000000000');
    assert.equal(down.status, 503);
    assert.equal(down.body.code, 'redis_unavailable');
    assert.match(down.headers.get('content-type')!, /application\/problem\+json/);
    assert.ok(Number(down.headers.get('retry-after')) > 0);
    const submit = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'hessian' },
    });
    assert.equal(submit.status, 503);
    assert.equal((await client.get('/readyz')).status, 503);
    assert.equal((await client.get('/healthz')).status, 200, 'the API process stays alive');

    redis = await startRedisServer({ port: redis.port });
    await waitFor('API to reconnect', async () => (await client.get('/readyz')).status === 200, 15_000);
    // This Redis has no persistence, so the metadata is gone; uploading again restores it (files are reused).
    const again = await uploadGolden(client, 'linear_regression_mse');
    assert.equal(again.modelId, ids.modelId);
    const submitted = await client.post('/v1/jobs', {
      modelId: again.modelId,
      datasetId: again.datasetId,
      loss: again.loss,
      method: { name: 'hessian' },
    });
    assert.equal(submitted.status, 202);
    const job = await client.waitForJob(submitted.body.id, 30_000);
    assert.equal(job.status, 'succeeded', 'the worker reconnected too');
  });
});
