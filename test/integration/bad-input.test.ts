/**
 * Bad input: each mistake is a 4xx application/problem+json whose message says what to fix, checked at upload or
 * at submission (never a 5xx, never a failed job later), and no partial files are left behind.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { encodeNpy } from '../../src/contract/data/npy.js';
import { GOLDEN_DIR } from '../helpers/golden.js';
import { Client, uploadGolden, type Reply } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

const MAX_UPLOAD = 64 * 1024;

function assertProblem(r: Reply, status: number, code: string, detail?: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(r.body.code, code);
  assert.equal(r.body.status, status);
  assert.equal(r.body.type, `/problems/${code}`);
  assert.ok(typeof r.body.detail === 'string' && r.body.detail.length > 10, 'a readable detail');
  if (detail) assert.match(r.body.detail, detail);
}

const golden = (name: string, file: string) => readFileSync(join(GOLDEN_DIR, name, file));

/** A Blob of bytes (the DOM typings want ArrayBuffer-backed views; ours may be Buffer slices). */
const blob = (bytes: string | Uint8Array): Blob => new Blob([bytes as BlobPart]);

function modelForm(modelJson: string | Buffer, shards: [string, Uint8Array][]): FormData {
  const form = new FormData();
  form.append('model', blob(modelJson), 'model.json');
  for (const [name, bytes] of shards) form.append('weights', blob(bytes), name);
  return form;
}

describe('bad input', () => {
  let stack: Stack;
  let client: Client;

  before(async () => {
    stack = await startStack({
      workers: 0,
      env: { MAX_UPLOAD_BYTES: String(MAX_UPLOAD), MAX_DENSE_PARAMS: '40' },
    });
    client = new Client(stack.url);
  });
  after(async () => stack?.close());

  const shard = golden('mlp_tanh_mse', 'group1-shard1of1.bin');
  const modelJson = golden('mlp_tanh_mse', 'model.json').toString();

  it('rejects a malformed model.json', async () => {
    assertProblem(
      await client.post('/v1/models', modelForm('{"modelTopology": ', [])),
      422,
      'invalid_model',
      /JSON/,
    );
    assertProblem(
      await client.post('/v1/models', modelForm('{"foo": 1}', [])),
      422,
      'invalid_model',
      /modelTopology/,
    );
  });

  it('rejects weights shorter or longer than the manifest says', async () => {
    const short = await client.post(
      '/v1/models',
      modelForm(modelJson, [['group1-shard1of1.bin', shard.subarray(8)]]),
    );
    assert.ok(short.status === 422, JSON.stringify(short.body));
    assert.match(short.body.detail, /bytes|byte|size|length/i);
    const long = await client.post(
      '/v1/models',
      modelForm(modelJson, [['group1-shard1of1.bin', Buffer.concat([shard, Buffer.alloc(8)])]]),
    );
    assert.equal(long.status, 422, JSON.stringify(long.body));
    assert.match(long.body.detail, /bytes|byte|size|length/i);
  });

  it('rejects a missing or an unlisted shard', async () => {
    assertProblem(
      await client.post('/v1/models', modelForm(modelJson, [])),
      422,
      'missing_weights',
      /group1-shard1of1\.bin/,
    );
    assertProblem(
      await client.post(
        '/v1/models',
        modelForm(modelJson, [
          ['group1-shard1of1.bin', shard],
          ['extra.bin', shard],
        ]),
      ),
      422,
      'invalid_model',
      /extra\.bin/,
    );
  });

  it('rejects an unsupported layer, naming it', async () => {
    const json = JSON.parse(modelJson);
    const layers = json.modelTopology.model_config?.config?.layers ?? json.modelTopology.config?.layers;
    layers[layers.length - 1].class_name = 'Conv3D';
    assertProblem(
      await client.post('/v1/models', modelForm(JSON.stringify(json), [['group1-shard1of1.bin', shard]])),
      422,
      'unsupported_layer',
      /Conv3D/,
    );
  });

  it('rejects NaN in inputs and mismatched example counts at dataset upload', async () => {
    const nan = encodeNpy({ dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, NaN, 3, 4]) });
    const targets = encodeNpy({ dtype: 'float32', shape: [2, 1], data: Float32Array.from([1, 2]) });
    const form = new FormData();
    form.append('inputs', blob(nan), 'inputs.npy');
    form.append('targets', blob(targets), 'targets.npy');
    assertProblem(await client.post('/v1/datasets', form), 422, 'invalid_array', /NaN|finite/);
    assertProblem(
      await client.post('/v1/datasets', {
        inputs: [
          [1, 2],
          [3, 4],
        ],
        targets: [[1]],
      }),
      422,
      'invalid_batch',
      /examples/,
    );
    assertProblem(
      await client.post('/v1/datasets', { inputs: [[1, 2], [3]], targets: [[1], [2]] }),
      422,
      'invalid_array',
    );
  });

  it('rejects at submission: wrong input shape, labels out of range, unknown ids, dense too large', async () => {
    const ids = await uploadGolden(client, 'mlp_tanh_scce_fused');
    const base = {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'diagonal' },
    };
    const model = (await client.get(`/v1/models/${ids.modelId}`)).body;
    const width = model.inputShape[1] as number;
    const classes = model.outputShape[1] as number;

    const wrongShape = await client.post('/v1/datasets', {
      inputs: [Array(width + 1).fill(0.5), Array(width + 1).fill(0.5)],
      targets: [0, 1],
    });
    assert.equal(wrongShape.status, 201);
    assertProblem(
      await client.post('/v1/jobs', { ...base, datasetId: wrongShape.body.id }),
      422,
      'invalid_batch',
      /inputs/,
    );

    const badLabels = await client.post('/v1/datasets', {
      inputs: [Array(width).fill(0.5), Array(width).fill(0.5)],
      targets: [0, classes + 5],
    });
    assertProblem(
      await client.post('/v1/jobs', { ...base, datasetId: badLabels.body.id }),
      422,
      'invalid_batch',
      new RegExp(String(classes + 5)),
    );

    assertProblem(
      await client.post('/v1/jobs', { ...base, modelId: 'nope' }),
      404,
      'model_not_found',
      /nope/,
    );
    assertProblem(await client.post('/v1/jobs', { ...base, datasetId: 'nope' }), 404, 'dataset_not_found');
    assertProblem(await client.post('/v1/jobs', { ...base, vectorsId: 'nope' }), 404, 'array_not_found');
    assertProblem(await client.get('/v1/jobs/0f0f0f0f-0000-4000-8000-000000000000'), 404, 'job_not_found');

    const tooLarge = await client.post('/v1/jobs', { ...base, method: { name: 'hessian' } });
    assertProblem(tooLarge, 413, 'too_large', /MAX_DENSE_PARAMS=40/);
    assert.match(
      tooLarge.body.detail,
      new RegExp(String(ids.numParams)),
      'says how many parameters there are',
    );

    assertProblem(
      await client.post('/v1/jobs', { ...base, parameters: { include: ['no_such_layer'] } }),
      422,
      'invalid_parameters',
      /no_such_layer/,
    );
    assertProblem(
      await client.post('/v1/jobs', { ...base, method: { name: 'hvp', vectors: [[1, 2, 3]] } }),
      422,
      'invalid_method',
    );

    // Checks that depend on P, and the explicit Jacobian's size, are made before queuing too (once, in
    // validateRequest): none of these may become a failed job.
    assertProblem(
      await client.post('/v1/jobs', { ...base, method: { name: 'eigen', k: 5, maxIter: 3 } }),
      422,
      'invalid_method',
      /maxIter = 3 is below k = 5/,
    );
    assertProblem(
      await client.post('/v1/jobs', { ...base, method: { name: 'eigen', k: ids.numParams + 1 } }),
      422,
      'invalid_method',
      /exceeds the number of parameters/,
    );
    assertProblem(
      await client.post('/v1/jobs', { ...base, method: { name: 'diagonal', curvature: 'ggn' } }),
      413,
      'too_large',
      /Jacobian/,
    );
    assertProblem(
      await client.post('/v1/jobs', {
        ...base,
        vectorsId: 'x'.repeat(32),
        method: { name: 'hvp', vectors: [[1]] },
      }),
      400,
      'invalid_request',
      /not both/,
    );
    const jobs = await client.get('/v1/jobs?limit=100');
    assert.deepEqual(jobs.body.items, [], 'no rejected request became a job');
  });

  it('queues the method as it will run: P-dependent defaults are filled in once, before queuing', async () => {
    const ids = await uploadGolden(client, 'mlp_tanh_scce_fused');
    const base = { modelId: ids.modelId, datasetId: ids.datasetId, loss: ids.loss };
    const eigen = await client.post('/v1/jobs', { ...base, method: { name: 'eigen', k: 2 } });
    assert.equal(eigen.status, 202, JSON.stringify(eigen.body));
    const redis = new Redis(stack.config.redisUrl);
    try {
      // The job's one copy is its record; BullMQ carries only the id.
      const recordKey = `${stack.config.queuePrefix}:svc:jobs:${eigen.body.id}`;
      const record = JSON.parse((await redis.get(recordKey))!);
      const steps = Math.min(ids.numParams, 40);
      assert.equal(record.data.method.maxIter, steps, 'Lanczos steps: min(P, max(2k + 20, 40))');
      const queuedKey = `${stack.config.queuePrefix}:hessian-jobs:${eigen.body.id}`;
      assert.deepEqual(JSON.parse((await redis.hget(queuedKey, 'data'))!), {
        jobId: eigen.body.id,
        method: 'eigen',
      });
      assert.equal(eigen.body.request.method.maxIter, steps, 'the job view shows the request as it runs');
    } finally {
      redis.disconnect();
    }
  });

  it('lists schema violations readably, one per field', async () => {
    const r = await client.post('/v1/jobs', {
      modelId: 'a',
      datasetId: 'b',
      loss: { name: 'cross' },
      method: { name: 'svd' },
    });
    assertProblem(r, 400, 'validation_failed');
    const paths = r.body.errors.map((e: { path: string }) => e.path);
    assert.ok(paths.includes('body.loss.name'), paths.join());
    assert.ok(
      paths.some((p: string) => p.startsWith('body.method')),
      paths.join(),
    );
    assert.match(r.body.detail, /body\.loss\.name: /);
    assertProblem(await client.get('/v1/jobs?status=bogus'), 400, 'validation_failed', /querystring\.status/);
  });

  it('rejects oversized uploads with 413 and the wrong content type with 415', async () => {
    const big = modelForm(modelJson, [['group1-shard1of1.bin', Buffer.alloc(MAX_UPLOAD + 1)]]);
    assertProblem(
      await client.post('/v1/models', big),
      413,
      'payload_too_large',
      new RegExp(String(MAX_UPLOAD)),
    );
    const bigJson = { inputs: Array.from({ length: MAX_UPLOAD / 4 }, () => [0.123456]), targets: [[1]] };
    assertProblem(await client.post('/v1/datasets', bigJson), 413, 'payload_too_large');
    assertProblem(
      await client.post('/v1/models', { model: 'x' }),
      415,
      'unsupported_media_type',
      /multipart/,
    );
    const textWithBody = await fetch(`${stack.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(textWithBody.status, 415);
    assert.match(textWithBody.headers.get('content-type')!, /problem\+json/);
    assertProblem(await client.get('/v1/nothing-here'), 404, 'route_not_found');
  });

  it('leaves no partial files behind after rejected uploads', () => {
    const root = stack.config.dataDir;
    assert.deepEqual(readdirSync(join(root, 'tmp')), []);
    // Only the valid uploads of the submission test are stored.
    assert.equal(readdirSync(join(root, 'models')).length, 1);
  });
});
