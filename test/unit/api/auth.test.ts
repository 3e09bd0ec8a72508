import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildTestServer } from './helpers.js';

describe('API keys', () => {
  let t: Awaited<ReturnType<typeof buildTestServer>>;
  before(async () => (t = await buildTestServer({ API_KEYS: 'first-key, second-key' })));
  after(async () => t?.close());

  it('require Authorization: Bearer <key> on every /v1 route', async () => {
    const none = await t.server.inject({ method: 'GET', url: '/v1/models' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(none.json().code, 'unauthorized');
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    const wrong = await t.server.inject({
      method: 'GET',
      url: '/v1/models',
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(wrong.statusCode, 401);
    const upload = await t.server.inject({ method: 'POST', url: '/v1/jobs', payload: {} });
    assert.equal(upload.statusCode, 401, 'checked before the body is validated');
  });

  it('accept any configured key', async () => {
    for (const key of ['first-key', 'second-key']) {
      const ok = await t.server.inject({
        method: 'GET',
        url: '/v1/models',
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(ok.json(), { items: [], nextCursor: null });
    }
  });

  it('leave probes and documentation open', async () => {
    for (const url of ['/healthz', '/readyz', '/openapi.json', '/metrics']) {
      const r = await t.server.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 200, `${url}: ${r.body.slice(0, 200)}`);
    }
  });
});

describe('without API keys', () => {
  let t: Awaited<ReturnType<typeof buildTestServer>>;
  before(async () => (t = await buildTestServer()));
  after(async () => t?.close());

  it('serves /v1 openly, with security headers and a request id', async () => {
    const r = await t.server.inject({
      method: 'GET',
      url: '/v1/jobs',
      headers: { 'x-request-id': 'trace-123' },
    });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['x-request-id'], 'trace-123');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  });
});
