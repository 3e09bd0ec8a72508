/**
 * Split jobs across worker processes, with real HTTP, Redis (a BullMQ flow: a parent and its pieces), two worker
 * processes and object storage on a real S3 API server (s3rver): the pieces' arrays go through the bucket.
 * - A dense Hessian by HVP columns with 4 shards gives the same bytes as with 1 (tolerance 0: each piece computes
 *   the single run's own block products) and matches the float64 golden Hessian to 1e-4 relative.
 * - A seeded Hutchinson trace is the same number with 1, 2 and 3 shards (tolerance 0: probe j draws from (seed, j)).
 * - A worker killed while it holds a piece loses only that piece: another worker recomputes it, and the result is
 *   still the 1-shard result's bytes.
 * - Cancelling the parent stops every piece: none is left running or queued.
 * - Datasets spread over the pieces (each loads only its group) give the result of their concatenation to float32
 *   rounding (1e-5 relative: a weighted sum of three float32 results), l2 term included; a route that does not add
 *   over examples (the factor route) runs whole in the first piece.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadGoldenCase, relativeError } from '../helpers/golden.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';
import { Client, uploadGolden, uploadGoldenSplit } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

/** P = 195 by HVP columns (a CNN: no factor route), 32 columns per block product: 7 blocks, 4 pieces. */
const CASE = 'cnn_two_conv_maxpool';
/** The seed of the job whose first piece is held at its first write while its worker is killed. */
const KILL_SEED = 4242;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('split jobs over two workers and S3 storage', () => {
  let s3: S3Server;
  let stack: Stack;
  let client: Client;
  let ids: Awaited<ReturnType<typeof uploadGolden>>;
  const scratch = mkdtempSync(join(tmpdir(), 'hessian-shards-'));
  const held = join(scratch, 'held-piece');

  before(async () => {
    s3 = await startS3Server();
    stack = await startStack({
      workers: 2,
      env: {
        ...s3.env('hessian-shards', `run-${process.pid}`),
        // Test-only: the first piece of the KILL_SEED job waits 6 s after its first file is written.
        HESSIAN_FAULT_INJECTION: `write:delay=6000:seed=${KILL_SEED}:once=${held}`,
      },
    });
    client = new Client(stack.url);
    ids = await uploadGolden(client, CASE);
  });
  after(async () => {
    await stack?.close();
    await s3?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const job = (method: Record<string, unknown>, shards: number | 'auto', seed?: number) => ({
    modelId: ids.modelId,
    datasetId: ids.datasetId,
    loss: ids.loss,
    method,
    execution: { shards },
    ...(seed !== undefined && { seed }),
  });

  /** The bytes' digest of every artifact, by name. */
  const digests = (view: any) =>
    Object.fromEntries(
      view.result.artifacts.map((a: { name: string; sha256: string }) => [a.name, a.sha256]),
    );

  let single: any;

  it('a dense Hessian in 4 pieces equals the single run, byte for byte', async () => {
    single = await client.runJob(job({ name: 'hessian' }, 1));
    assert.equal(single.shards, undefined, 'one piece: not a flow');
    const split = await client.runJob(job({ name: 'hessian' }, 4));
    assert.deepEqual(split.shards, {
      total: 4,
      queued: 0,
      running: 0,
      succeeded: 4,
      failed: 0,
      cancelled: 0,
    });
    assert.deepEqual(digests(split), digests(single));
    const execution = split.result.summary.execution;
    assert.equal(execution.shards, 4);
    assert.equal(execution.unit, 'columns');
    assert.deepEqual(
      execution.pieces.map((p: { start: number; end: number }) => [p.start, p.end]),
      [
        [0, 64],
        [64, 128],
        [128, 192],
        [192, 195],
      ],
    );
    assert.equal(split.progress.fraction, 1);
    assert.equal(split.progress.completed, 195, 'progress summed over the pieces: one unit per column');
    assert.equal(split.result.summary.verification.passed, true);
    const hessian = await client.download(split.result.artifacts[0].href);
    // float32 against float64, the golden suite's bound for dense results.
    assert.ok(relativeError(hessian.data as Float32Array, loadGoldenCase(CASE).hessian) <= 1e-4);
    // Both workers took pieces.
    const pieceWorkers = new Set(
      stack.logs
        .filter((l) => l.line.msg === 'piece started' && l.line.jobId.startsWith(split.id))
        .map((l) => l.worker.pid),
    );
    assert.equal(pieceWorkers.size, 2, 'pieces ran on both workers');
  });

  it('a seeded Hutchinson trace is the same number in 1, 2 and 3 pieces', async () => {
    const method = { name: 'trace', estimator: 'hutchinson', probes: 90 };
    const runs = [];
    for (const shards of [1, 2, 3]) runs.push(await client.runJob(job(method, shards, 17)));
    const [one, two, three] = runs.map((r) => r.result.summary);
    assert.equal(two.trace, one.trace);
    assert.equal(three.trace, one.trace);
    assert.equal(three.standardError, one.standardError);
    assert.deepEqual(
      runs.map((r) => r.shards?.total),
      [undefined, 2, 3],
    );
    const other = await client.runJob(job(method, 3, 18));
    assert.notEqual(other.result.summary.trace, one.trace, 'another seed, other probes');
  });

  it('a method that does not split runs as one job, whatever is asked', async () => {
    const eigen = await client.runJob(job({ name: 'eigen', k: 1 }, 4));
    assert.equal(eigen.shards, undefined);
    assert.deepEqual(eigen.request.execution, { shards: 1, requested: 4 });
  });

  it('datasets spread over the pieces give the result of their concatenation', async () => {
    // The batch cut into three datasets (1, 1 and 2 examples); l2 > 0, which the first group carries once.
    const parts = await uploadGoldenSplit(client, CASE, [1, 2]);
    const loss = { ...ids.loss, l2: 0.01 };
    const whole = await client.runJob({ ...job({ name: 'hessian' }, 1), loss });
    const spread = await client.runJob({
      ...job({ name: 'hessian' }, 4),
      datasetId: undefined,
      datasetIds: parts,
      loss,
    });
    assert.deepEqual(spread.request.execution, { shards: 3, requested: 4, dataGroups: 3 });
    assert.equal(spread.shards.succeeded, 3);
    assert.deepEqual(
      spread.result.summary.execution.pieces.map((p: { examples: number }) => p.examples),
      [1, 1, 2],
      'each piece took its group of datasets',
    );
    const a = await client.download(whole.result.artifacts[0].href);
    const b = await client.download(spread.result.artifacts[0].href);
    const err = relativeError(b.data as Float32Array, a.data as Float32Array);
    assert.ok(err <= 1e-5, `relative difference ${err}`);
    assert.equal(spread.result.summary.verification.passed, true);

    const method = { name: 'trace', estimator: 'hutchinson', probes: 64 };
    const t1 = await client.runJob({ ...job(method, 1, 5), loss });
    const t2 = await client.runJob({ ...job(method, 6, 5), datasetId: undefined, datasetIds: parts, loss });
    assert.deepEqual(t2.request.execution, { shards: 6, requested: 6, dataGroups: 3 });
    const rel =
      Math.abs(t2.result.summary.trace - t1.result.summary.trace) / Math.abs(t1.result.summary.trace);
    assert.ok(rel <= 1e-5, `trace ${t2.result.summary.trace} vs ${t1.result.summary.trace}`);
  });

  it('a route that does not add over examples runs whole; KFAC factors add over datasets', async () => {
    // A Dense chain: the Hessian by the backpropagated factor, which has no columns to split.
    const mlp = await uploadGolden(client, 'mlp_tanh_cce_fused');
    const halves = await uploadGoldenSplit(client, 'mlp_tanh_cce_fused', [4]);
    const body = { modelId: mlp.modelId, loss: mlp.loss, method: { name: 'hessian' } };
    const whole = await client.runJob({ ...body, datasetId: mlp.datasetId, execution: { shards: 1 } });
    const spread = await client.runJob({ ...body, datasetIds: halves, execution: { shards: 2 } });
    assert.equal(spread.request.execution.dataGroups, 2);
    assert.match(spread.result.summary.execution.note, /does not split/);
    const a = await client.download(whole.result.artifacts[0].href);
    const b = await client.download(spread.result.artifacts[0].href);
    assert.ok(relativeError(b.data as Float32Array, a.data as Float32Array) <= 1e-6);

    // KFAC's exact factors are means over examples: one piece per dataset, summed with their weights.
    const kfac = { ...body, method: { name: 'kfac' } };
    const kWhole = await client.runJob({ ...kfac, datasetId: mlp.datasetId, execution: { shards: 1 } });
    const kSpread = await client.runJob({ ...kfac, datasetIds: halves, execution: { shards: 2 } });
    assert.deepEqual(kSpread.request.execution, { shards: 2, requested: 2, dataGroups: 2 });
    assert.equal(kSpread.result.summary.execution.unit, 'factors');
    for (const artifact of kWhole.result.artifacts) {
      const x = await client.download(artifact.href);
      const y = await client.download(
        kSpread.result.artifacts.find((s: { name: string }) => s.name === artifact.name).href,
      );
      const err = relativeError(y.data as Float32Array, x.data as Float32Array);
      assert.ok(err <= 1e-5, `${artifact.name}: ${err}`);
    }
  });

  it('a worker killed while it holds a piece loses only that piece', async () => {
    const submitted = await client.post('/v1/jobs', job({ name: 'hessian' }, 4, KILL_SEED));
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    // The piece that took the fault is held for 6 s after its first write; kill the worker holding it.
    const deadline = Date.now() + 30_000;
    while (!existsSync(held) || readFileSync(held, 'utf8') === '') {
      assert.ok(Date.now() < deadline, 'a piece reached its first write');
      await sleep(50);
    }
    const childPid = Number(readFileSync(held, 'utf8'));
    // Compute processes are reused from job to job: the line of this job's piece.
    const handed = await stack.waitForLog(
      (l) => l.msg === 'job handed to compute process' && l.childPid === childPid && l.jobId.startsWith(id),
    );
    assert.match(handed.line.jobId, new RegExp(`^${id}-piece-\\d$`), 'the held task is a piece');
    await stack.killWorker(handed.worker, 'SIGKILL');
    const view = await client.waitForJob(id, 60_000);
    assert.equal(view.status, 'succeeded', JSON.stringify(view.error));
    assert.deepEqual(digests(view), digests(single), 'the same bytes as the single run');
    assert.equal(view.shards.succeeded, 4);
    // A fresh second worker for the tests after this one.
    await stack.startWorker();
  });

  it('cancelling the parent leaves no piece running or queued', async () => {
    // About 20,000 probes: seconds of work in every piece.
    const submitted = await client.post('/v1/jobs', job({ name: 'diagonal_estimate', probes: 20000 }, 4, 3));
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const id = submitted.body.id;
    await client.waitForJob(id, 30_000, (j) => j.shards?.running >= 1 && j.progress.completed > 0);
    const cancelled = await client.delete(`/v1/jobs/${id}`);
    assert.ok([200, 202].includes(cancelled.status), JSON.stringify(cancelled.body));
    const view = await client.waitForJob(id, 30_000);
    assert.equal(view.status, 'cancelled', JSON.stringify(view));
    // Pieces still stopping count as running; wait until none is.
    const settled = await client.waitForJob(
      id,
      15_000,
      (j) => j.shards.running === 0 && j.shards.queued === 0,
    );
    assert.equal(settled.shards.failed, 0, 'no piece failed: they were cancelled');
    assert.ok(settled.shards.cancelled >= 1, JSON.stringify(settled.shards));
    // No live worker runs a piece any more (a killed worker's record shows its last load until it expires, so
    // only the live ones are read: their ids carry their pids).
    const live = stack.workers.filter((w) => w.exitCode === null && w.signalCode === null).map((w) => w.pid);
    const runningPieces = async () => {
      const text = Buffer.from((await client.get('/metrics')).body as Uint8Array).toString('utf8');
      return [
        ...text.matchAll(/^hessian_worker_tasks\{worker="[^"]*-(\d+)-[0-9a-f]+",kind="piece"\} (\d+)$/gm),
      ]
        .filter((m) => live.includes(Number(m[1])))
        .map((m) => Number(m[2]));
    };
    assert.equal((await runningPieces()).length, live.length, 'a piece gauge per live worker');
    const deadline = Date.now() + 5000;
    while ((await runningPieces()).some((n) => n > 0)) {
      assert.ok(
        Date.now() < deadline,
        `a live worker still runs a piece: ${JSON.stringify(await runningPieces())}`,
      );
      await sleep(100);
    }
  });
});
