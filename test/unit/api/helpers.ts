/** Builds the real app for `inject` tests: Redis at REDIS_URL with a unique prefix, a temporary DATA_DIR. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../../src/api/server.js';
import { loadConfig } from '../../../src/config/env.js';
import { deleteKeys } from '../../integration/helpers/stack.js';

export async function buildTestServer(env: Record<string, string> = {}): Promise<{
  server: FastifyInstance;
  close(): Promise<void>;
}> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hessian-unit-'));
  const config = loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `unit-${randomBytes(5).toString('hex')}`,
    ...env,
  });
  const { server } = await buildServer(config, { logger: false });
  await server.ready();
  return {
    server,
    async close() {
      await server.close();
      await deleteKeys(config.redisUrl, config.queuePrefix).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
