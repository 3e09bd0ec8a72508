/**
 * Models with several inputs and outputs, and with variable-length inputs, over real HTTP, Redis and worker
 * processes: the batch as an .npz keyed by input/output name, as `inputs.<name>`/`targets.<name>` parts or JSON keys,
 * the job's curvature against the float64 reference, and refusals that name the missing array.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeNpy } from '../../src/contract/data/npy.js';
import type { NdArray } from '../../src/contract/ndarray.js';
import { loadGoldenCase, relativeError } from '../helpers/golden.js';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

const MULTI = 'multi_io_two_outputs'; // inputs a [3], b [2]; outputs cls (softmax, CCE) and reg (MSE, weight 0.5)
const VARIABLE = 'variable_length_conv1d'; // input [null, 3]; the batch has 5 steps

/** float32 dense curvature against float64 PyTorch: relative Frobenius error 1e-4 (P ≤ 73, smooth activations). */
const TOLERANCE = 1e-4;

const named = (group: unknown) => group as Map<string, NdArray>;
const nested = (a: NdArray): unknown => {
  const rows: unknown[] = [];
  const width = a.shape.slice(1).reduce((x, y) => x * y, 1);
  for (let i = 0; i < a.shape[0]; i++)
    rows.push(Array.from((a.data as Float32Array).subarray(i * width, (i + 1) * width)));
  return rows;
};

describe('input forms over HTTP with worker processes', () => {
  let stack: Stack;
  let client: Client;

  before(async () => {
    stack = await startStack({ workers: 1 });
    client = new Client(stack.url);
  });
  after(async () => stack?.close());

  it('lists a multi-input, multi-output model by name and computes its Hessian and GGN to the reference', async () => {
    const ids = await uploadGolden(client, MULTI);
    const model = await client.get(`/v1/models/${ids.modelId}`);
    assert.deepEqual(
      model.body.inputs.map((i: { name: string; shape: unknown }) => [i.name, i.shape]),
      [
        ['a', [null, 3]],
        ['b', [null, 2]],
      ],
    );
    assert.deepEqual(
      model.body.outputs.map((o: { name: string }) => o.name),
      ['cls', 'reg'],
    );
    const dataset = await client.get(`/v1/datasets/${ids.datasetId}`);
    assert.deepEqual(
      dataset.body.arrays.map((a: { name: string; shape: number[] }) => [a.name, a.shape]),
      [
        ['inputs.a', [4, 3]],
        ['inputs.b', [4, 2]],
        ['targets.cls', [4, 3]],
        ['targets.reg', [4, 2]],
      ],
    );

    const golden = loadGoldenCase(MULTI);
    for (const [method, reference] of [
      ['hessian', golden.hessian],
      ['ggn', golden.ggn],
    ] as const) {
      const submitted = await client.post('/v1/jobs', {
        modelId: ids.modelId,
        datasetId: ids.datasetId,
        loss: ids.loss,
        method: { name: method },
      });
      assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
      const job = await client.waitForJob(submitted.body.id);
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      const artifact = job.result.artifacts.find((a: { name: string }) => a.name === `${method}.npy`);
      const got = await client.download(artifact.href);
      const err = relativeError(got.data as Float32Array, reference);
      assert.ok(err <= TOLERANCE, `${method}: relative error ${err.toExponential(2)}`);
    }
  });

  it('takes the same batch as inputs.<name>/targets.<name> parts or JSON keys: the same dataset', async () => {
    const golden = loadGoldenCase(MULTI);
    const ids = await uploadGolden(client, MULTI);
    const form = new FormData();
    for (const [what, group] of [
      ['inputs', golden.request.inputs],
      ['targets', golden.request.targets],
    ] as const) {
      for (const [name, array] of named(group)) {
        form.append(`${what}.${name}`, new Blob([encodeNpy(array) as BlobPart]), `${name}.npy`);
      }
    }
    const parts = await client.post('/v1/datasets', form);
    assert.equal(parts.status, 200, JSON.stringify(parts.body)); // identical content: the existing dataset
    assert.equal(parts.body.id, ids.datasetId);

    const body: Record<string, unknown> = {};
    for (const [name, array] of named(golden.request.inputs)) body[`inputs.${name}`] = nested(array);
    for (const [name, array] of named(golden.request.targets)) body[`targets.${name}`] = nested(array);
    const json = await client.post('/v1/datasets', body);
    assert.ok(json.status === 201 || json.status === 200, JSON.stringify(json.body));
    assert.deepEqual(
      json.body.arrays.map((a: { name: string }) => a.name),
      ['inputs.a', 'inputs.b', 'targets.cls', 'targets.reg'],
    );
  });

  it('refuses a batch that misses an input, naming it and the model inputs, before queuing', async () => {
    const golden = loadGoldenCase(MULTI);
    const ids = await uploadGolden(client, MULTI);
    const form = new FormData();
    form.append(
      'inputs.a',
      new Blob([encodeNpy(named(golden.request.inputs).get('a')!) as BlobPart]),
      'a.npy',
    );
    for (const [name, array] of named(golden.request.targets)) {
      form.append(`targets.${name}`, new Blob([encodeNpy(array) as BlobPart]), `${name}.npy`);
    }
    const partial = await client.post('/v1/datasets', form);
    assert.equal(partial.status, 201, JSON.stringify(partial.body));
    const submitted = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: partial.body.id,
      loss: ids.loss,
      method: { name: 'hvp', vectors: [Array.from({ length: ids.numParams }, () => 1)] },
    });
    assert.equal(submitted.status, 422, JSON.stringify(submitted.body));
    assert.equal(submitted.body.code, 'invalid_batch');
    assert.match(submitted.body.detail, /no array for "b"/);
    assert.match(submitted.body.detail, /inputs\.a, inputs\.b/);

    const unknown = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: { ...ids.loss, outputs: { nope: { weight: 2 } } },
      method: { name: 'hessian' },
    });
    assert.equal(unknown.status, 422, JSON.stringify(unknown.body));
    assert.match(unknown.body.detail, /"nope".*not outputs of the model.*"cls", "reg"/);
  });

  it('computes a variable-length model on the length of the uploaded batch', async () => {
    const ids = await uploadGolden(client, VARIABLE);
    const model = await client.get(`/v1/models/${ids.modelId}`);
    assert.deepEqual(model.body.inputShape, [null, null, 3]);
    const submitted = await client.post('/v1/jobs', {
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'hessian' },
    });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await client.waitForJob(submitted.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const artifact = job.result.artifacts.find((a: { name: string }) => a.name === 'hessian.npy');
    const got = await client.download(artifact.href);
    const err = relativeError(got.data as Float32Array, loadGoldenCase(VARIABLE).hessian);
    assert.ok(err <= TOLERANCE, `hessian: relative error ${err.toExponential(2)}`);
  });
});
