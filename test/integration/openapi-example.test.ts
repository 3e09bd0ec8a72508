/**
 * The OpenAPI document's job examples run as documented (real HTTP, Redis and a worker process): uploading
 * examples/tiny/ as the anonymous principal gives the ids the examples name, and each example body is accepted (202)
 * and succeeds. The Hessian of that linear model is checked against its float64 golden (1e-5 relative).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EXAMPLE_UPLOAD_IDS } from '../../src/api/plugins/openapi.js';
import { loadGoldenCase, relativeError } from '../helpers/golden.js';
import { Client, TINY_DIR, uploadTiny } from './helpers/client.js';
import { REPO_ROOT, startStack } from './helpers/stack.js';

describe('the OpenAPI job examples', () => {
  it('name the ids that uploading examples/tiny gives, and run as they are', async () => {
    const stack = await startStack({ workers: 1 });
    try {
      await runExamples(new Client(stack.url));
    } finally {
      await stack.close();
    }
  });
});

async function runExamples(client: Client): Promise<void> {
  const tiny = await uploadTiny(client);
  assert.deepEqual(tiny.statuses, [201, 201], JSON.stringify(tiny.bodies));
  assert.deepEqual({ modelId: tiny.modelId, datasetId: tiny.datasetId }, EXAMPLE_UPLOAD_IDS);

  const doc = (await client.get('/openapi.json')).body;
  const examples = doc.paths['/v1/jobs'].post.requestBody.content['application/json'].examples;
  for (const [name, example] of Object.entries<any>(examples)) {
    const job = await client.runJob(example.value);
    assert.equal(job.result.summary.verification.passed, true, `${name}: verified`);
    if (name === 'hessian') {
      const hessian = await client.download(job.result.artifacts[0].href);
      const golden = loadGoldenCase('linear_regression_mse').hessian;
      assert.ok(relativeError(hessian.data as Float32Array, golden) <= 1e-5);
    }
  }
  // The files are the golden case's own.
  assert.ok(
    readFileSync(join(TINY_DIR, 'model.json')).equals(
      readFileSync(join(REPO_ROOT, 'test/fixtures/golden/linear_regression_mse/model.json')),
    ),
  );
}
