/**
 * The API process SIGKILLed while submissions are in flight: clients retry with their Idempotency-Keys against a
 * restarted API, and every key ends with exactly one job, which runs to `succeeded`. Nothing is lost and nothing
 * runs twice. Real processes throughout: the API (`hessian serve`), a worker, Redis.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/runtime/redis-server.js';
import { Client, uploadGolden } from './helpers/client.js';
import { cliArgs } from '../helpers/cli.js';
import { startStack, type Stack } from './helpers/stack.js';

const SUBMISSIONS = 40;

async function startApi(env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, cliArgs('serve', '--port', String(port)), {
    env: { ...process.env, ...env, HOST: '127.0.0.1', RATE_LIMIT_PER_KEY: '0' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the API did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the API killed mid-submit', { timeout: 120_000 }, () => {
  let stack: Stack;
  let api: ChildProcess | undefined;
  before(async () => {
    stack = await startStack({ workers: 1 });
  });
  after(async () => {
    api?.kill('SIGKILL');
    await stack?.close();
  });

  it('loses no job and runs none twice when clients retry with their keys', async () => {
    const port = await freePort();
    api = await startApi(stack.env, port);
    const client = new Client(`http://127.0.0.1:${port}`);
    const ids = await uploadGolden(client, 'mlp_tanh_mse');
    const body = (i: number) => ({
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'trace', probes: 20 + i },
      seed: i,
    });
    const submit = (i: number) =>
      client.post('/v1/jobs', body(i), { 'idempotency-key': `step-${i}` }).then(
        (r) => ({ i, status: r.status, code: r.body.code, id: r.body.id as string | undefined }),
        () => ({ i, status: 0, code: 'connection', id: undefined }),
      );
    /** A client's retry: again after Retry-After while the key's first submission may still be in progress. */
    const resubmit = async (i: number) => {
      for (;;) {
        const r = await submit(i);
        if (r.code !== 'idempotency_key_in_use') return r;
        await new Promise((res) => setTimeout(res, 2000));
      }
    };

    // Fire every submission, and kill the API while they are in flight.
    const inFlight = Array.from({ length: SUBMISSIONS }, (_, i) => submit(i));
    await new Promise((r) => setTimeout(r, 30));
    api.kill('SIGKILL');
    const first = await Promise.all(inFlight);
    const answered = first.filter((r) => r.status === 202);
    const lost = first.filter((r) => r.status !== 202);
    assert.ok(lost.length > 0, 'the kill landed while submissions were in flight');

    api = await startApi(stack.env, port);
    // What a client does after a connection error: send the same request with the same key again (all of them, so
    // the answered ones are checked to replay their job rather than make a second one).
    const retried = await Promise.all(first.map((r) => resubmit(r.i)));
    for (const r of retried) assert.equal(r.status, 202, `step-${r.i} after the restart: ${r.status}`);
    for (const a of answered) {
      assert.equal(retried[a.i].id, a.id, `step-${a.i} replays the job it was first given`);
    }
    const jobIds = new Set(retried.map((r) => r.id));
    assert.equal(jobIds.size, SUBMISSIONS, 'one job per key');
    for (const id of jobIds) {
      const job = await client.waitForJob(id!, 60_000);
      assert.equal(job.status, 'succeeded', `${id}: ${JSON.stringify(job.error)}`);
    }
    const all = await client.get('/v1/jobs?limit=100');
    assert.equal(all.body.items.length, SUBMISSIONS, 'and no other job was ever recorded');
  });
});
