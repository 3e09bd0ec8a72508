/**
 * A batch larger than one upload (`datasetIds`) over real HTTP, Redis and a worker process: two datasets give the
 * Hessian of their concatenation uploaded as one (float32 rounding), and what cannot form one batch is refused
 * before queuing with a message that says what to fix.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseNpy } from '../../src/contract/data/npy.js';
import { GOLDEN_DIR, relativeError } from '../helpers/golden.js';
import { Client, rows, uploadBatch, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

const CASE = 'mlp_tanh_cce_fused';

describe('several datasets as one batch (datasetIds)', () => {
  let stack: Stack;
  let client: Client;
  let ids: Awaited<ReturnType<typeof uploadGolden>>;
  let halves: string[];

  before(async () => {
    stack = await startStack({ workers: 1 });
    client = new Client(stack.url);
    ids = await uploadGolden(client, CASE);
    const inputs = parseNpy(new Uint8Array(readFileSync(join(GOLDEN_DIR, CASE, 'inputs.npy'))));
    const targets = parseNpy(new Uint8Array(readFileSync(join(GOLDEN_DIR, CASE, 'targets.npy'))));
    const n = inputs.shape[0];
    const cut = Math.floor(n / 3);
    halves = [
      await uploadBatch(client, rows(inputs, 0, cut), rows(targets, 0, cut)),
      await uploadBatch(client, rows(inputs, cut, n), rows(targets, cut, n)),
    ];
  });
  after(async () => stack?.close());

  const run = async (batch: Record<string, unknown>) => {
    const job = await client.runJob({
      modelId: ids.modelId,
      ...batch,
      loss: ids.loss,
      method: { name: 'hessian' },
    });
    return { job, hessian: await client.download(job.result.artifacts[0].href) };
  };

  it('gives the Hessian of the concatenation uploaded as one (float32 rounding, 1e-6 relative)', async () => {
    const whole = await run({ datasetId: ids.datasetId });
    const parts = await run({ datasetIds: halves });
    assert.deepEqual(parts.job.request.datasetIds, halves);
    assert.equal(parts.job.result.summary.numExamples, whole.job.result.summary.numExamples);
    const err = relativeError(parts.hessian.data as Float32Array, whole.hessian.data as Float32Array);
    assert.ok(err <= 1e-6, `relative difference ${err}`);
  });

  it('refuses a request that is not one batch, saying what to fix', async () => {
    const submit = (batch: Record<string, unknown>) =>
      client.post('/v1/jobs', { modelId: ids.modelId, ...batch, loss: ids.loss, method: { name: 'trace' } });
    let r = await submit({ datasetId: ids.datasetId, datasetIds: halves });
    assert.equal(r.status, 400);
    assert.match(JSON.stringify(r.body), /exactly one of them/);
    r = await submit({});
    assert.equal(r.status, 400);
    r = await submit({ datasetIds: [halves[0], halves[0]] });
    assert.equal(r.status, 400);
    assert.match(JSON.stringify(r.body), /lists a dataset twice/);
    r = await submit({ datasetIds: [halves[0], 'no-such-dataset'] });
    assert.equal(r.status, 404);
    assert.match(JSON.stringify(r.body), /no-such-dataset/);
    // A dataset of another shape (3 features instead of the model's): 422 naming it.
    const other = await uploadBatch(
      client,
      { dtype: 'float32', shape: [2, 3], data: new Float32Array(6) },
      { dtype: 'float32', shape: [2, 3], data: new Float32Array(6) },
    );
    r = await submit({ datasetIds: [halves[0], other] });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.match(r.body.detail, new RegExp(`inputs of dataset ${other} is float32 \\[2, 3\\]`));
  });
});
