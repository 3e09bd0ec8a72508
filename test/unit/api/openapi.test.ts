import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generateOpenApi, OPENAPI_FILE } from '../../../openapi/generate.js';
import { jobRequestSchema } from '../../../src/api/schemas/jobs.js';

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

  it("carries the package's version, an operationId on every operation, and security only where a key is needed", () => {
    const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    assert.equal(doc.info.version, pkg.version);
    assert.equal(doc.security, undefined, 'no document-wide security');
    const ids: string[] = [];
    for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        assert.match(op.operationId ?? '', /^[a-z][A-Za-z]+$/, `${method} ${path} has an operationId`);
        ids.push(op.operationId);
        if (path.startsWith('/v1/')) assert.deepEqual(op.security, [{ bearerAuth: [] }], `${method} ${path}`);
        else assert.equal(op.security, undefined, `${method} ${path} needs no key`);
      }
    }
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  });

  it('gives POST /v1/jobs examples that are valid requests', () => {
    const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    const examples = doc.paths['/v1/jobs'].post.requestBody.content['application/json'].examples;
    assert.ok(Object.keys(examples).length >= 2);
    for (const [name, example] of Object.entries<any>(examples)) {
      const parsed = jobRequestSchema.safeParse(example.value);
      assert.ok(parsed.success, `${name}: ${JSON.stringify(parsed.error?.issues)}`);
      assert.ok(
        example.description.includes('examples/tiny') || example.description.includes('same uploads'),
      );
    }
  });
});
