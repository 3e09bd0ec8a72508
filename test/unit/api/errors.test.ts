import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../../src/api/server.js';
import { createServices, type Services } from '../../../src/api/services.js';
import { loadConfig } from '../../../src/config/env.js';

describe('the error handler', () => {
  let server: FastifyInstance;
  let services: Services;
  const dataDir = mkdtempSync(join(tmpdir(), 'hessian-errors-'));

  before(async () => {
    const config = loadConfig({
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `unit-err-${randomBytes(4).toString('hex')}`,
    });
    services = await createServices(config);
    ({ server } = await buildServer(config, { services, logger: false }));
  });
  after(async () => {
    await server.close();
    await services.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers an unexpected failure with a 500 problem that hides its details', async () => {
    services.meta.get = async () => {
      throw new Error('secret internal detail');
    };
    const r = await server.inject({
      method: 'GET',
      url: '/v1/models/abc',
      headers: { 'x-request-id': 'req-42' },
    });
    assert.equal(r.statusCode, 500);
    assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
    const body = r.json();
    assert.equal(body.code, 'internal');
    assert.doesNotMatch(r.body, /secret/);
    assert.match(body.detail, /req-42/, 'gives the request id to quote');
  });

  it('maps a Redis outage to 503 with Retry-After', async () => {
    services.meta.get = async () => {
      throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
    };
    const r = await server.inject({ method: 'GET', url: '/v1/models/abc' });
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().code, 'redis_unavailable');
    assert.ok(Number(r.headers['retry-after']) > 0);
  });
});
