/** The BullMQ dashboard under /admin/queues: open without API keys, behind them when they are set. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../../src/api/server.js';
import type { Services } from '../../../src/api/services.js';
import { loadConfig } from '../../../src/config/env.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const dataDir = mkdtempSync(join(tmpdir(), 'hessian-admin-'));
const servers: { server: FastifyInstance; services: Services }[] = [];

async function app(apiKeys: string): Promise<FastifyInstance> {
  const config = loadConfig({
    REDIS_URL,
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `test-admin-${randomUUID().slice(0, 8)}`,
    API_KEYS: apiKeys,
  });
  const built = await buildServer(config, { logger: false });
  servers.push(built);
  return built.server;
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

after(async () => {
  for (const { server, services } of servers) {
    const keys = await services.redis.keys(`${services.config.queuePrefix}:*`);
    if (keys.length > 0) await services.redis.del(...keys);
    await server.close();
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('/admin/queues', () => {
  it('serves the dashboard and its queue API without a key when API_KEYS is unset', async () => {
    const server = await app('');
    const page = await server.inject('/admin/queues');
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    const queues = await server.inject('/admin/queues/api/queues');
    assert.equal(queues.statusCode, 200);
    assert.deepEqual(
      queues.json().queues.map((q: { name: string }) => q.name),
      ['hessian-jobs'],
    );
  });

  it('answers 401 problem+json with a Basic challenge when API_KEYS is set and no valid key is sent', async () => {
    const server = await app('key-one,key-two');
    for (const authorization of [undefined, 'Bearer wrong', basic('admin', 'wrong')]) {
      const res = await server.inject({
        url: '/admin/queues/api/queues',
        headers: authorization ? { authorization } : {},
      });
      assert.equal(res.statusCode, 401, String(authorization));
      assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
      assert.equal(res.json().code, 'unauthorized');
      assert.match(res.headers['www-authenticate'] as string, /^Basic realm=/);
    }
  });

  it('accepts a key as a Bearer token or as the Basic password with any user name', async () => {
    const server = await app('key-one,key-two');
    for (const authorization of ['Bearer key-two', basic('anyone', 'key-one')]) {
      const res = await server.inject({ url: '/admin/queues', headers: { authorization } });
      assert.equal(res.statusCode, 200, authorization);
    }
  });

  it('stays out of the OpenAPI document', async () => {
    const server = await app('');
    const paths = Object.keys((await server.inject('/openapi.json')).json().paths);
    assert.ok(!paths.some((p) => p.startsWith('/admin')), paths.join(' '));
  });
});
