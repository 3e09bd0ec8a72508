import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildTestServer } from './helpers.js';

describe('probes and metrics', () => {
  let t: Awaited<ReturnType<typeof buildTestServer>>;
  before(async () => (t = await buildTestServer()));
  after(async () => t?.close());

  it('reports liveness and readiness of Redis and storage', async () => {
    assert.deepEqual((await t.server.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
    const ready = await t.server.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json().checks, { redis: 'ok', storage: 'ok' });
  });

  it('exposes Prometheus metrics: HTTP requests, queue depth and job outcomes', async () => {
    await t.server.inject({ method: 'GET', url: '/v1/jobs/missing' });
    const r = await t.server.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.match(r.body, /http_requests_total\{method="GET",route="\/v1\/jobs\/:id",status="404"\} 1/);
    assert.match(r.body, /hessian_queue_jobs\{state="waiting"\} 0/);
    assert.match(r.body, /hessian_jobs_total\{outcome="succeeded"\} 0/);
    assert.match(r.body, /hessian_job_duration_seconds_count 0/);
    assert.match(r.body, /hessian_redis_up 1/);
  });

  it('serves Swagger UI at /docs', async () => {
    const r = await t.server.inject({ method: 'GET', url: '/docs/' });
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /swagger/i);
  });
});
