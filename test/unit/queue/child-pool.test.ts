/**
 * The worker's supervision of its compute children (src/queue/child-pool.ts), with a stand-in child
 * (fake-compute-child.js) that starts in milliseconds and misbehaves on request: no Redis, no TF.js.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { UnrecoverableError } from 'bullmq';
import { pino } from 'pino';
import { ChildPool, type ChildPoolOptions } from '../../../src/queue/child-pool.js';
import type { JobData, JobProgress } from '../../../src/contract/job.js';

const FAKE = fileURLToPath(new URL('./fake-compute-child.js', import.meta.url));
const pools: ChildPool[] = [];

function pool(opts: Partial<ChildPoolOptions> & { start?: 'crash' | 'never' } = {}): ChildPool {
  const p = new ChildPool({
    size: 1,
    startTimeoutMs: 5000,
    stopGraceMs: 200,
    logger: pino({ level: 'silent' }),
    entry: { file: FAKE, execArgv: [] },
    env: { ...process.env, FAKE_START: opts.start ?? '' },
    ...opts,
  });
  pools.push(p);
  return p;
}

/** A job whose stand-in behaviour is `behaviour` (see fake-compute-child.js). */
const job = (behaviour: string) => ({ method: { name: behaviour } }) as unknown as JobData;
let n = 0;
const run = (p: ChildPool, behaviour: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}) => {
  const progress: JobProgress[] = [];
  const result = p.run(`job-${++n}`, job(behaviour), {
    timeoutMs: opts.timeoutMs ?? 10_000,
    signal: opts.signal,
    onProgress: (x) => progress.push(x),
  });
  return { result, progress };
};

/** Asserts that `promise` rejects with the message `pattern` and the retry decision `final`. */
async function rejectsWith(promise: Promise<unknown>, pattern: RegExp, final: boolean) {
  const err = await promise.then(
    () => assert.fail('expected the job to fail'),
    (e: Error) => e,
  );
  assert.match(err.message, pattern);
  assert.equal(err instanceof UnrecoverableError, final, `${err.name}: ${err.message}`);
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

after(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('ChildPool', () => {
  it('runs successive jobs in one reused child and relays their progress and results', async () => {
    const p = pool();
    const first = run(p, 'ok');
    assert.equal((await first.result).method, 'ok');
    assert.deepEqual(first.progress, [
      { completed: 1, total: 2 },
      { completed: 2, total: 2 },
    ]);
    const [pid] = p.pids();
    assert.equal((await run(p, 'ok').result).method, 'ok');
    assert.deepEqual(p.pids(), [pid]);
  });

  it("passes on the child's classification: input errors are final, others retried", async () => {
    const p = pool();
    await rejectsWith(run(p, 'fail-input').result, /^invalid_method: bad method$/, true);
    await rejectsWith(run(p, 'fail-transient').result, /^internal: flaky$/, false);
  });

  it('fails a job whose child dies mid-job as retryable worker_crashed, and runs the next on a fresh child', async () => {
    const p = pool();
    await run(p, 'ok').result;
    const [pid] = p.pids();
    await rejectsWith(
      run(p, 'crash').result,
      /^worker_crashed: the compute process \(pid \d+\) exited with code 3 while running the job$/,
      false,
    );
    assert.equal((await run(p, 'ok').result).method, 'ok');
    assert.notDeepEqual(p.pids(), [pid]);
  });

  it('fails the job as worker_crashed when the child dies before it is ready', async () => {
    await rejectsWith(
      run(pool({ start: 'crash' }), 'ok').result,
      /exited with code 4 during start-up$/,
      false,
    );
  });

  it('kills a child that is not ready within the start-up timeout', async () => {
    const started = Date.now();
    const p = pool({ start: 'never', startTimeoutMs: 300 });
    await rejectsWith(
      run(p, 'ok').result,
      /^worker_crashed: .* did not become ready within COMPUTE_START_TIMEOUT_MS=300 ms and was killed$/,
      false,
    );
    assert.ok(Date.now() - started < 2000);
  });

  it('keeps a result the child sent just before it exited', async () => {
    assert.equal((await run(pool(), 'result-then-exit').result).method, 'result-then-exit');
  });

  it('times a job out from outside: a child that stops in time is kept, a stuck one is killed', async () => {
    const p = pool();
    await rejectsWith(
      run(p, 'slow', { timeoutMs: 100 }).result,
      /^timeout: the job ran longer than JOB_TIMEOUT_MS=100 ms and was stopped$/,
      true,
    );
    const [pid] = p.pids();
    const started = Date.now();
    await rejectsWith(run(p, 'stuck', { timeoutMs: 100 }).result, /^timeout: /, true);
    assert.ok(Date.now() - started < 1500, 'timeout + grace, then killed');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(isRunning(pid), false);
    assert.equal((await run(p, 'ok').result).method, 'ok');
  });

  it('cancels through the signal: at once when already aborted, cooperatively, or by killing a stuck child', async () => {
    const p = pool();
    await run(p, 'ok').result; // started and ready, so the aborts below reach a running job
    const aborted = new AbortController();
    aborted.abort();
    await rejectsWith(run(p, 'ok', { signal: aborted.signal }).result, /^cancelled: /, true);

    const cooperative = new AbortController();
    const slow = run(p, 'slow', { signal: cooperative.signal });
    setTimeout(() => cooperative.abort(), 50);
    await rejectsWith(slow.result, /^cancelled: cancelled by request$/, true);
    assert.equal(p.pids().length, 1, 'a child that stopped in time is kept');

    const stuck = new AbortController();
    const blocked = run(p, 'stuck', { signal: stuck.signal });
    setTimeout(() => stuck.abort(), 50);
    await rejectsWith(blocked.result, /^cancelled: cancelled by request$/, true);
    assert.deepEqual(p.pids(), [], 'the stuck child was killed');
  });

  it('stops its children when closed', async () => {
    const p = pool({ size: 2 });
    await Promise.all([run(p, 'ok').result, run(p, 'ok').result]);
    const pids = p.pids();
    assert.equal(pids.length, 2);
    await p.close();
    assert.ok(pids.every((pid) => !isRunning(pid)));
  });
});
