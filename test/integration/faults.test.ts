/**
 * Faults, with nothing lost: a worker process or a compute child is killed at every stage of a job (before the
 * child has it, while the child starts, mid-computation, while it writes results), a child crashes on every
 * attempt or hangs in one long unit, Redis goes away and comes back. Every job must reach a final state (succeeded
 * with correct results, or failed with a clear error once its attempts are spent) and the jobs queued behind it
 * must run. Kills are real SIGKILLs of the real pids (read from the workers' log lines) where the stage can be hit
 * by timing; the test-only HESSIAN_FAULT_INJECTION (src/queue/fault-injection.ts) holds a child at a stage or
 * makes it die there. Redis here is the shared one, except for the Redis test, which runs a private redis-server
 * on a random port and stops and restarts it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRedisServer, type RedisServerHandle } from '../../src/runtime/redis-server.js';
import { loadGoldenCase, relativeError } from '../helpers/golden.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

const CASE = 'mlp_tanh_mse'; // P = 51: a Hessian takes well under a second, one probe ~0.15 ms (in blocks)
type Ids = Awaited<ReturnType<typeof uploadGolden>>;

/** Pids of live processes whose environment holds `NAME=value` (our workers and their compute children). */
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

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

const waitFor = async (what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** The pid a `once=<file>` fault wrote when a child took it (waits for the whole line). */
async function claimedBy(file: string): Promise<number> {
  let pid = 0;
  await waitFor(
    `a child to take the fault ${file}`,
    () => {
      const m = existsSync(file) ? /^(\d+)\n$/.exec(readFileSync(file, 'utf8')) : null;
      pid = m ? Number(m[1]) : 0;
      return pid > 0;
    },
    10_000,
  );
  return pid;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Submits a job on the golden case; returns its id. */
async function submit(client: Client, ids: Ids, method: Record<string, unknown>, seed?: number) {
  const r = await client.post('/v1/jobs', {
    modelId: ids.modelId,
    datasetId: ids.datasetId,
    loss: ids.loss,
    method,
    ...(seed === undefined ? {} : { seed }),
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id as string;
}

/** Waits for a job to succeed and checks its Hessian against the float64 reference. */
async function assertCorrectHessian(client: Client, id: string, attempts?: number) {
  const job = await client.waitForJob(id, 30_000);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  if (attempts !== undefined) assert.equal(job.attempts, attempts);
  const href = job.result.artifacts.find((a: { name: string }) => a.name === 'hessian.npy').href;
  const hessian = await client.download(href);
  // float32 against the float64 reference, as in jobs.test.ts.
  assert.ok(relativeError(hessian.data as Float32Array, loadGoldenCase(CASE).hessian) <= 1e-4);
  return job;
}

async function assertSucceeded(client: Client, id: string) {
  const job = await client.waitForJob(id, 30_000);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  return job;
}

describe('a worker process killed', () => {
  let stack: Stack;
  let client: Client;
  let ids: Ids;
  const scratch = mkdtempSync(join(tmpdir(), 'hessian-faults-'));
  const slowStart = join(scratch, 'slow-start');

  before(async () => {
    // The first compute child of this stack takes 4 s to start (and writes its pid to `slowStart`): a window in
    // which the job is active in its worker but not yet in any child.
    stack = await startStack({
      workers: 2,
      env: { HESSIAN_FAULT_INJECTION: `startup:delay=4000:once=${slowStart}` },
    });
    client = new Client(stack.url);
    ids = await uploadGolden(client, CASE);
  });
  after(async () => {
    await stack?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('before its compute child got the job: the other worker runs it, and the job queued behind it', async () => {
    const first = await submit(client, ids, { name: 'hessian' });
    const childPid = await claimedBy(slowStart);
    const { worker } = await stack.waitForLog((l) => l.msg === 'job started' && l.jobId === first);
    const behind = await submit(client, ids, { name: 'diagonal' });
    assert.ok(
      !stack.logs.some((l) => l.line.msg === 'job handed to compute process' && l.line.jobId === first),
    );

    await stack.killWorker(worker, 'SIGKILL');
    // The starting child notices its worker is gone and exits instead of waiting for jobs from nobody.
    await waitFor('the starting child to exit', () => !isRunning(childPid), 3000);
    // Locked by the dead worker until the other one finds it stalled (2 to 4 s here), then queued again.
    assert.match((await client.get(`/v1/jobs/${first}`)).body.status, /^(running|queued)$/);

    await assertCorrectHessian(client, first);
    await assertSucceeded(client, behind);
  });

  it('mid-job: its job is recovered by another worker and completes', async () => {
    // About 3 s of work (probes go in block products, ~0.15 ms each), so the kill lands mid-job.
    const id = await submit(client, ids, { name: 'diagonal_estimate', probes: 20000 }, 7);
    await client.waitForJob(id, 30_000, (j) => j.progress.completed > 100);

    const alive = stack.workers.find((w) => w.exitCode === null && w.signalCode === null)!;
    await stack.killWorker(alive, 'SIGKILL');
    const marker = `QUEUE_PREFIX=${stack.config.queuePrefix}`;
    // The compute child notices its worker is gone and exits instead of computing for nobody.
    await waitFor('orphaned compute child to exit', () => processesWithEnv(marker).length === 0, 5000);
    assert.equal((await client.get(`/v1/jobs/${id}`)).body.status, 'running', 'locked by the dead worker');

    await stack.startWorker();
    const job = await client.waitForJob(id, 30_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress.completed, job.progress.total);
    const diag = await client.download(
      job.result.artifacts.find((a: { name: string }) => a.name === 'diagonal.npy').href,
    );
    assert.deepEqual(diag.shape, [ids.numParams]);
  });
});

describe('a compute child killed', () => {
  let stack: Stack;
  let client: Client;
  let ids: Ids;
  const scratch = mkdtempSync(join(tmpdir(), 'hessian-faults-'));
  const slowStart = join(scratch, 'slow-start');
  const WRITE_KILL_SEED = 5;

  before(async () => {
    stack = await startStack({
      workers: 1,
      env: {
        JOB_ATTEMPTS: '3',
        HESSIAN_FAULT_INJECTION: [
          // The stack's first child takes 3 s to start (and writes its pid there), so the test can kill it then.
          `startup:delay=3000:once=${slowStart}`,
          // The first job with this seed SIGKILLs its own child after writing its first result file.
          `write:kill:seed=${WRITE_KILL_SEED}:once=${join(scratch, 'write-kill')}`,
        ].join(','),
      },
    });
    client = new Client(stack.url);
    ids = await uploadGolden(client, CASE);
  });
  after(async () => {
    await stack?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const failureLog = (jobId: string) =>
    stack.waitForLog((l) => l.msg === 'job failed' && l.jobId === jobId, 10_000);

  it('during start-up: the job fails at once as retryable, then succeeds on a fresh child', async () => {
    const first = await submit(client, ids, { name: 'hessian' });
    const behind = await submit(client, ids, { name: 'diagonal' });
    await stack.waitForLog((l) => l.msg === 'job started' && l.jobId === first);
    const childPid = await claimedBy(slowStart);

    const killedAt = Date.now();
    process.kill(childPid, 'SIGKILL');
    const { line: failed } = await failureLog(first);
    assert.ok(Date.now() - killedAt < 2000, `noticed after ${Date.now() - killedAt} ms`);
    assert.equal(failed.code, 'worker_crashed');
    assert.equal(failed.final, false);
    assert.match(failed.err, /compute process \(pid \d+\) was killed by signal SIGKILL during start-up/);

    await assertCorrectHessian(client, first, 2);
    await assertSucceeded(client, behind);
  });

  it('mid-computation: the job is retried on a fresh child and succeeds', async () => {
    const id = await submit(client, ids, { name: 'diagonal_estimate', probes: 30000 }, 3);
    const behind = await submit(client, ids, { name: 'hessian' });
    await client.waitForJob(id, 30_000, (j) => j.progress.completed > 100);
    const { line: handed } = await stack.waitForLog(
      (l) => l.msg === 'job handed to compute process' && l.jobId === id,
    );

    process.kill(handed.childPid, 'SIGKILL');
    const { line: failed } = await failureLog(id);
    assert.equal(failed.code, 'worker_crashed');
    assert.match(failed.err, /was killed by signal SIGKILL while running the job/);
    const job = await assertSucceeded(client, id);
    assert.equal(job.attempts, 2);
    assert.equal(job.progress.completed, job.progress.total);
    await assertCorrectHessian(client, behind, 1);
  });

  it('while writing its results: the retry rewrites them and they are correct', async () => {
    const id = await submit(client, ids, { name: 'hessian' }, WRITE_KILL_SEED);
    const behind = await submit(client, ids, { name: 'diagonal' });
    const { line: failed } = await failureLog(id);
    assert.equal(failed.code, 'worker_crashed');
    assert.match(failed.err, /was killed by signal SIGKILL while running the job/);
    await assertCorrectHessian(client, id, 2);
    await assertSucceeded(client, behind);
  });
});

describe('a compute child that dies at start-up every time', () => {
  let stack: Stack;
  let client: Client;

  before(async () => {
    stack = await startStack({
      workers: 1,
      env: { JOB_ATTEMPTS: '2', HESSIAN_FAULT_INJECTION: 'startup:exit' },
    });
    client = new Client(stack.url);
  });
  after(async () => stack?.close());

  it('fails every job once its attempts are spent, none left running', async () => {
    const ids = await uploadGolden(client, CASE);
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(await submit(client, ids, { name: 'hessian' }));
    for (const id of jobs) {
      const job = await client.waitForJob(id, 20_000);
      assert.equal(job.status, 'failed');
      assert.equal(job.error.code, 'worker_crashed');
      assert.match(job.error.message, /compute process \(pid \d+\) exited with code 70 during start-up/);
      assert.equal(job.attempts, 2);
    }
  });
});

describe('a compute child stuck or crashing in the middle of a job', () => {
  let stack: Stack;
  let client: Client;
  let ids: Ids;
  const HANG_SEED = 13; // blocks its child's event loop at the first unit of work, for good
  const CRASH_SEED = 666; // SIGKILLs its child at the first unit of work, on every attempt

  before(async () => {
    stack = await startStack({
      workers: 1,
      env: {
        JOB_ATTEMPTS: '2',
        JOB_TIMEOUT_MS: '3000',
        COMPUTE_STOP_GRACE_MS: '500',
        HESSIAN_FAULT_INJECTION: `compute:hang:seed=${HANG_SEED},compute:kill:seed=${CRASH_SEED}`,
      },
    });
    client = new Client(stack.url);
    ids = await uploadGolden(client, CASE);
  });
  after(async () => stack?.close());

  const handedTo = async (jobId: string) =>
    (await stack.waitForLog((l) => l.msg === 'job handed to compute process' && l.jobId === jobId)).line
      .childPid as number;

  it('fails a job whose child crashes on every attempt, and runs the job behind it', async () => {
    const id = await submit(client, ids, { name: 'diagonal_estimate', probes: 100 }, CRASH_SEED);
    const behind = await submit(client, ids, { name: 'hessian' });
    const job = await client.waitForJob(id, 20_000);
    assert.equal(job.status, 'failed');
    assert.equal(job.error.code, 'worker_crashed');
    assert.match(job.error.message, /was killed by signal SIGKILL while running the job/);
    assert.equal(job.attempts, 2);
    await assertCorrectHessian(client, behind, 1);
  });

  it('enforces JOB_TIMEOUT_MS from the worker: kills the stuck child, fails with timeout, not retried', async () => {
    const id = await submit(client, ids, { name: 'diagonal_estimate', probes: 100 }, HANG_SEED);
    const behind = await submit(client, ids, { name: 'hessian' });
    const childPid = await handedTo(id);
    const job = await client.waitForJob(id, 15_000);
    assert.equal(job.status, 'failed');
    assert.equal(job.error.code, 'timeout');
    assert.match(job.error.message, /JOB_TIMEOUT_MS=3000/);
    assert.equal(job.attempts, 1);
    await waitFor('the stuck child to be killed', () => !isRunning(childPid), 2000);
    await assertCorrectHessian(client, behind, 1);
  });

  it('cancels a job stuck in one long unit: its child is killed after COMPUTE_STOP_GRACE_MS', async () => {
    const id = await submit(client, ids, { name: 'diagonal_estimate', probes: 100 }, HANG_SEED);
    const childPid = await handedTo(id);
    await client.waitForJob(id, 10_000, (j) => j.progress.total > 0);
    await sleep(200); // past the first unit, where the child hangs
    const started = Date.now();
    assert.equal((await client.delete(`/v1/jobs/${id}`)).status, 202);
    const job = await client.waitForJob(id, 5000);
    assert.equal(job.status, 'cancelled');
    assert.equal(job.error.code, 'cancelled');
    assert.ok(Date.now() - started < 2000, `cancelled after ${Date.now() - started} ms`);
    assert.ok(!isRunning(childPid), 'the stuck child was killed, not asked');
    const next = await submit(client, ids, { name: 'hessian' });
    await assertCorrectHessian(client, next, 1);
  });

  it('a child stuck in one long unit still exits when its worker is SIGKILLed', async () => {
    const id = await submit(client, ids, { name: 'diagonal_estimate', probes: 100 }, HANG_SEED);
    const childPid = await handedTo(id);
    await client.waitForJob(id, 10_000, (j) => j.progress.total > 0);
    await sleep(200);
    await stack.killWorker(stack.workers[0], 'SIGKILL');
    // Its event loop is blocked, so the IPC disconnect goes unnoticed; the watchdog thread ends it.
    await waitFor('the orphaned stuck child to exit', () => !isRunning(childPid), 3000);
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
