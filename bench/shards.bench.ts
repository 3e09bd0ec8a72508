/**
 * What sharding buys (issue 11): the same job through the HTTP API with two worker processes, `execution.shards` 2
 * against 1, wall time from POST /v1/jobs to `succeeded` seen by a client polling every 20 ms. Real HTTP, Redis and
 * worker processes; storage the local directory (default) or S3 (s3rver started here) with `--s3`.
 *
 * Workloads: W2 of ../shared/bench (MLP 64-32-10, N = 256, P = 2,410) as written by make_workloads.cjs:
 * - its dense Fisher (MC, by Fisher-vector columns: 2,410 columns in block products, split by columns);
 * - its dense Hessian by central differences (`finite_difference`, 4 gradients a column, split by columns);
 * - its dense Hessian, which takes the backpropagated-factor route (Khatri–Rao products, no columns): it runs whole
 *   in one piece, so shards cannot speed it up; shown for the record.
 * Per piece it reports what it writes to storage (its rows, float32) and the job's Redis round trips are in
 * bench/queue-overhead.bench.ts.
 *
 *   node --import tsx bench/shards.bench.ts [--repeats 3] [--s3] [--shared ../shared]
 *
 * Needs Redis at REDIS_URL (default 127.0.0.1:6379); uses a private queue prefix and removes its keys. Run it on an
 * idle machine: two worker processes on two cores.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startS3Server, type S3Server } from '../test/helpers/s3-server.js';
import { Client, fileBlob } from '../test/integration/helpers/client.js';
import { REPO_ROOT, startStack } from '../test/integration/helpers/stack.js';

const { values: v } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    s3: { type: 'boolean', default: false },
    shared: { type: 'string', default: path.resolve(REPO_ROOT, '../shared') },
  },
});
const REPEATS = Number(v.repeats);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function upload(client: Client, dir: string) {
  const form = new FormData();
  form.append('model', fileBlob(path.join(dir, 'model.json')), 'model.json');
  const modelJson = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  for (const group of modelJson.weightsManifest)
    for (const p of group.paths) form.append('weights', fileBlob(path.join(dir, p)), p);
  const model = await client.post('/v1/models', form);
  if (model.status >= 300) throw new Error(JSON.stringify(model.body));
  const data = new FormData();
  data.append('inputs', fileBlob(path.join(dir, 'x.npy')), 'inputs.npy');
  data.append('targets', fileBlob(path.join(dir, 'y.npy')), 'targets.npy');
  const dataset = await client.post('/v1/datasets', data);
  if (dataset.status >= 300) throw new Error(JSON.stringify(dataset.body));
  return { modelId: model.body.id as string, datasetId: dataset.body.id as string };
}

/** Submits, polls every 20 ms until a final status; the wall time and the job. */
async function timed(client: Client, body: Record<string, unknown>) {
  const t0 = performance.now();
  const submitted = await client.post('/v1/jobs', body);
  if (submitted.status !== 202) throw new Error(JSON.stringify(submitted.body));
  for (;;) {
    const reply = await client.get(`/v1/jobs/${submitted.body.id}`);
    // A refused poll (429) would add its wait to the figure: fail instead.
    if (reply.status !== 200) throw new Error(`poll: ${reply.status} ${JSON.stringify(reply.body)}`);
    const job = reply.body;
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
      if (job.status !== 'succeeded') throw new Error(`${job.status}: ${JSON.stringify(job.error)}`);
      return { ms: performance.now() - t0, job };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const workloads = mkdtempSync(path.join(os.tmpdir(), 'shards-bench-'));
let s3: S3Server | undefined;
try {
  const made = spawnSync(process.execPath, [path.join(v.shared, 'bench', 'make_workloads.cjs'), workloads], {
    env: { ...process.env, NODE_PATH: path.join(REPO_ROOT, 'node_modules') },
    encoding: 'utf8',
  });
  if (made.status !== 0) throw new Error(`make_workloads.cjs failed: ${made.stderr}`);
  if (v.s3) s3 = await startS3Server();
  const stack = await startStack({
    workers: 2,
    // The service's default backend here (the test stack's is cpu); no rate limit on the polling client.
    env: {
      HESSIAN_BACKEND: 'wasm',
      RATE_LIMIT_PER_KEY: '0',
      ...(s3 ? s3.env('hessian-bench', 'shards') : {}),
    },
  });
  const rows: string[] = [];
  try {
    const client = new Client(stack.url);
    const ids = await upload(client, path.join(workloads, 'W2'));
    const base = { ...ids, loss: { name: 'sparse_categorical_crossentropy' } };
    // Warm-up: both workers' compute children load TF.js and the model once.
    await timed(client, { ...base, method: { name: 'hessian' }, execution: { shards: 2 } });
    for (const [label, method] of [
      ['W2 dense Fisher (MC), Fisher-vector columns', { name: 'fisher' }],
      ['W2 dense Hessian by central differences', { name: 'finite_difference' }],
      ['W2 dense Hessian (backpropagated factor: runs whole)', { name: 'hessian' }],
    ] as const) {
      // Warm-up of this method on both workers (its kernels and operators set up once per compute process).
      await timed(client, { ...base, method, seed: 1, execution: { shards: 2 } });
      const times: Record<number, number[]> = { 1: [], 2: [] };
      let split: any;
      for (let r = 0; r < REPEATS; r++) {
        for (const shards of [1, 2]) {
          const { ms, job } = await timed(client, { ...base, method, seed: 1, execution: { shards } });
          times[shards].push(ms);
          if (shards === 2) split = job;
        }
      }
      const [one, two] = [median(times[1]), median(times[2])];
      const execution = split.result.summary.execution;
      const n = split.result.numParams as number;
      const perPiece = execution.pieces
        ? `${((Math.max(...execution.pieces.map((p: any) => p.end - p.start)) * n * 4) / 2 ** 20).toFixed(1)} MiB`
        : '— (one piece)';
      const pieceSeconds = execution.pieces
        ? execution.pieces.map((p: any) => p.seconds.toFixed(2)).join(' + ')
        : '—';
      const combine = execution.pieces ? split.result.timings.totalSeconds.toFixed(2) : '—';
      rows.push(
        `| ${label} | ${(one / 1000).toFixed(2)} | ${(two / 1000).toFixed(2)} | ${(two / one).toFixed(2)}× | ` +
          `${pieceSeconds} | ${combine} | ${perPiece} |`,
      );
      console.error(
        `${label}: 1 shard ${times[1].map((t) => t.toFixed(0))} ms; 2 shards ${times[2].map((t) => t.toFixed(0))} ms`,
      );
    }
  } finally {
    await stack.close();
  }
  console.log(
    `\n${new Date().toISOString()}: Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ` +
      `load average at end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ' ',
        )}; two worker processes (WORKER_CONCURRENCY=1), storage ${s3 ? 'S3 (s3rver)' : 'local directory'}, ` +
      `median of ${REPEATS}, wasm backend\n`,
  );
  console.log(
    '| job | 1 shard s | 2 shards s | ratio | piece compute s | combine and verify s | a piece writes (and the parent reads) |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  await s3?.close();
  rmSync(workloads, { recursive: true, force: true });
}
process.exit(0);
