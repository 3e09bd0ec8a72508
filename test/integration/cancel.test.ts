/** Cancellation reaches the compute child running a job, and removes a queued job at once. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

describe('cancelling jobs', () => {
  let stack: Stack;
  let client: Client;
  let ids: Awaited<ReturnType<typeof uploadGolden>>;
  // 100 000 probes take ~15 s even in block products: the job is certainly still running when it is cancelled.
  const longJob = () =>
    client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'diagonal_estimate', probes: 100000 },
    });

  before(async () => {
    stack = await startStack({ workers: 1 });
    client = new Client(stack.url);
    ids = await uploadGolden(client, 'mlp_tanh_mse');
  });
  after(async () => stack?.close());

  it('cancels a queued job at once and a running job at its next unit of work', async () => {
    const running = await longJob();
    // Wait for real progress, so the cancel lands in the middle of the engine's work.
    await client.waitForJob(running.body.id, 30_000, (j) => j.progress.completed > 0);

    const queued = await longJob();
    assert.equal((await client.get(`/v1/jobs/${queued.body.id}`)).body.status, 'queued');
    const cancelQueued = await client.delete(`/v1/jobs/${queued.body.id}`);
    assert.equal(cancelQueued.status, 200);
    assert.equal(cancelQueued.body.status, 'cancelled');

    const started = Date.now();
    const cancelRunning = await client.delete(`/v1/jobs/${running.body.id}`);
    assert.equal(cancelRunning.status, 202);
    assert.equal(cancelRunning.body.cancelRequested, true);
    const job = await client.waitForJob(running.body.id, 10_000);
    assert.equal(job.status, 'cancelled');
    assert.equal(job.error.code, 'cancelled');
    assert.ok(job.progress.completed < 100000);
    // Seconds, not minutes: one HVP of this model takes milliseconds.
    assert.ok(Date.now() - started < 5000, `cancellation took ${Date.now() - started} ms`);

    const again = await client.delete(`/v1/jobs/${running.body.id}`);
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'job_finished');
    assert.equal(again.body.status, 409, "the problem's status is the HTTP status");
    assert.equal(again.body.jobStatus, 'cancelled');
  });

  it('keeps the worker usable after a cancellation', async () => {
    const next = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'diagonal' },
    });
    const job = await client.waitForJob(next.body.id, 30_000);
    assert.equal(job.status, 'succeeded');
  });
});

describe('failing jobs', () => {
  let stack: Stack;
  let client: Client;

  before(async () => {
    stack = await startStack({ workers: 1, env: { JOB_TIMEOUT_MS: '1500', JOB_ATTEMPTS: '3' } });
    client = new Client(stack.url);
  });
  after(async () => stack?.close());

  it('stops a job at JOB_TIMEOUT_MS and fails a job whose upload vanished, neither retried', async () => {
    const ids = await uploadGolden(client, 'mlp_tanh_mse');
    const base = { modelId: ids.modelId, datasetId: ids.datasetId, loss: ids.loss };
    const slow = await client.post('/v1/jobs', {
      ...base,
      method: { name: 'diagonal_estimate', probes: 100000 },
    });
    await client.waitForJob(slow.body.id, 30_000, (j) => j.progress.completed > 0); // past loading its inputs
    // Accepted while the dataset exists; it is deleted before the (single) worker gets to the job.
    const orphan = await client.post('/v1/jobs', { ...base, method: { name: 'diagonal' } });
    assert.equal((await client.delete(`/v1/datasets/${ids.datasetId}`)).status, 204);

    const timedOut = await client.waitForJob(slow.body.id, 30_000);
    assert.equal(timedOut.status, 'failed');
    assert.equal(timedOut.error.code, 'timeout');
    assert.match(timedOut.error.message, /JOB_TIMEOUT_MS=1500/);
    assert.equal(timedOut.attempts, 1, 'a timeout is not retried');

    const lost = await client.waitForJob(orphan.body.id, 30_000);
    assert.equal(lost.status, 'failed');
    assert.equal(lost.error.code, 'upload_missing');
    assert.equal(lost.attempts, 1, 'retrying cannot bring a deleted upload back');
  });
});
