import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generateOpenApi, OPENAPI_FILE } from '../../../openapi/generate.js';

describe('the committed OpenAPI document', () => {
  it('is what the routes generate (run `npm run openapi` after changing a route or schema)', async () => {
    const generated = await generateOpenApi();
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    assert.ok(
      generated === committed,
      'openapi/openapi.json is stale: run `npm run openapi` and commit the result',
    );
  });

  it('documents every v1 route, the multipart uploads and problem+json errors', async () => {
    const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    assert.equal(doc.openapi, '3.1.0');
    for (const path of [
      '/v1/models',
      '/v1/datasets',
      '/v1/arrays',
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/artifacts/{name}',
    ]) {
      assert.ok(doc.paths[path], `missing ${path}`);
    }
    assert.ok(doc.paths['/v1/models'].post.requestBody.content['multipart/form-data']);
    assert.ok(doc.paths['/v1/jobs/{id}'].get.responses['404'].content['application/problem+json']);
    assert.ok(doc.components.schemas.MethodSpec, 'the engine vocabulary is a named schema');
  });
});
