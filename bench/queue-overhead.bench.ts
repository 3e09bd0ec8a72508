/**
 * What one queued job costs beyond its computation (issue 11: the overhead a shard would pay per piece): real HTTP,
 * Redis, worker processes and storage, for the local directory and for S3-compatible storage (s3rver, a real S3 API
 * server started here). Submits tiny jobs one after another (an exact diagonal of a 7-parameter model: the compute
 * is about a millisecond) and measures, per job, the wall time from POST /v1/jobs to `succeeded` seen by a client
 * polling every 2 ms, against the job's own `timings.totalSeconds`.
 *
 *   node --import tsx bench/queue-overhead.bench.ts [--jobs 40] [--workers 2]
 *
 * Needs Redis at REDIS_URL (default 127.0.0.1:6379); uses a private queue prefix and removes its keys.
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { startS3Server } from '../test/helpers/s3-server.js';
import { Client, uploadGolden } from '../test/integration/helpers/client.js';
import { startStack } from '../test/integration/helpers/stack.js';

const { values: v } = parseArgs({
  options: { jobs: { type: 'string', default: '40' }, workers: { type: 'string', default: '2' } },
});
const JOBS = Number(v.jobs);
const WORKERS = Number(v.workers);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function measure(label: string, env: Record<string, string>) {
  const stack = await startStack({ workers: WORKERS, env });
  try {
    const client = new Client(stack.url);
    const ids = await uploadGolden(client, 'linear_regression_mse');
    const body = {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'diagonal' },
    };
    const walls: number[] = [];
    const computes: number[] = [];
    for (let i = 0; i < JOBS + 3; i++) {
      const t0 = performance.now();
      const submitted = await client.post('/v1/jobs', { ...body, seed: i });
      if (submitted.status !== 202) throw new Error(JSON.stringify(submitted.body));
      let job;
      for (;;) {
        job = (await client.get(`/v1/jobs/${submitted.body.id}`)).body;
        if (['succeeded', 'failed', 'cancelled'].includes(job.status)) break;
        await new Promise((r) => setTimeout(r, 2));
      }
      const wall = performance.now() - t0;
      if (job.status !== 'succeeded') throw new Error(JSON.stringify(job.error));
      if (i < 3) continue; // warm-up: compute children loading TF.js
      walls.push(wall);
      computes.push(job.result.timings.totalSeconds * 1000);
    }
    const overheads = walls.map((w, i) => w - computes[i]);
    return {
      label,
      wall: [quantile(walls, 0.5), quantile(walls, 0.9)],
      compute: quantile(computes, 0.5),
      overhead: [quantile(overheads, 0.5), quantile(overheads, 0.9)],
    };
  } finally {
    await stack.close();
  }
}

const rows = [await measure('local directory', {})];
const s3 = await startS3Server();
try {
  rows.push(await measure('S3 (s3rver on 127.0.0.1)', s3.env('hessian-bench', 'overhead')));
} finally {
  await s3.close();
}

const f = (x: number) => x.toFixed(1);
console.log(
  `\n${new Date().toISOString()}: Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ` +
    `load average at end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${JOBS} jobs after 3 warm-up, ${WORKERS} worker processes, client polling every 2 ms\n`,
);
console.log(
  '| storage | submit → succeeded ms (median, p90) | compute ms (median) | overhead ms (median, p90) |',
);
console.log('|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.label} | ${f(r.wall[0])}, ${f(r.wall[1])} | ${f(r.compute)} | ${f(r.overhead[0])}, ${f(r.overhead[1])} |`,
  );
}
process.exit(0);
