/**
 * Load: 50 clients submit 1,000 small jobs through the API over real HTTP, two real worker processes compute them,
 * and every job reaches `succeeded` with the right numbers (each client checks its own jobs' Hessian diagonals
 * against the float64 reference). Nothing here is timed as a pass/fail criterion; the duration is printed for
 * docs/operations.md.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadGoldenCase } from '../helpers/golden.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

const CLIENTS = 50;
const JOBS = 1000;
const CASE = 'mlp_tanh_mse';

describe('50 clients, 1,000 jobs, 2 workers', { timeout: 240_000 }, () => {
  let stack: Stack;
  before(async () => {
    // Polling 50 clients from one address is far beyond the default per-address budget: no limit here.
    stack = await startStack({ workers: 2, env: { RATE_LIMIT_PER_KEY: '0' } });
  });
  after(async () => stack?.close());

  it('brings every job to succeeded with correct results', async () => {
    const setup = new Client(stack.url);
    const ids = await uploadGolden(setup, CASE);
    const reference = loadGoldenCase(CASE).hessian;
    const p = ids.numParams;
    const expected = Float64Array.from({ length: p }, (_, i) => reference[i * p + i]);

    const started = Date.now();
    const perClient = JOBS / CLIENTS;
    const outcomes = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const client = new Client(stack.url);
        const jobIds: string[] = [];
        for (let j = 0; j < perClient; j++) {
          const r = await client.post('/v1/jobs', {
            modelId: ids.modelId,
            datasetId: ids.datasetId,
            loss: ids.loss,
            method: { name: 'diagonal' },
            seed: c * perClient + j,
          });
          assert.equal(r.status, 202, JSON.stringify(r.body));
          jobIds.push(r.body.id);
        }
        const failures: string[] = [];
        for (const id of jobIds) {
          const job = await client.waitForJob(id, 200_000, (j) =>
            ['succeeded', 'failed', 'cancelled'].includes(j.status),
          );
          if (job.status !== 'succeeded') {
            failures.push(`${id}: ${job.status} ${JSON.stringify(job.error)}`);
            continue;
          }
          const diagonal = await client.download(`/v1/jobs/${id}/artifacts/diagonal.npy`);
          // float32 products against float64: ~1e-6 relative; a wrong result is off by far more.
          for (let i = 0; i < p; i++) {
            const err = Math.abs((diagonal.data[i] as number) - expected[i]);
            if (err > 1e-4 * Math.max(1, Math.abs(expected[i]))) {
              failures.push(`${id}: diagonal[${i}] = ${diagonal.data[i]}, expected ${expected[i]}`);
              break;
            }
          }
        }
        return { submitted: jobIds.length, failures };
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const submitted = outcomes.reduce((n, o) => n + o.submitted, 0);
    const failures = outcomes.flatMap((o) => o.failures);
    console.log(
      `# load: ${submitted} jobs from ${CLIENTS} clients through 2 workers in ${seconds.toFixed(1)} s`,
    );
    assert.equal(submitted, JOBS);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} jobs did not succeed correctly`);

    const counts = await stack.server.inject({ url: '/metrics' });
    const succeeded = /hessian_jobs_total\{outcome="succeeded"\} (\d+)/.exec(counts.body)?.[1];
    assert.equal(Number(succeeded), JOBS, 'the workers counted every job once');
  });
});
