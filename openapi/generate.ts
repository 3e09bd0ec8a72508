/**
 * Writes the OpenAPI document of the HTTP API to openapi/openapi.json (`npm run openapi`). It is generated from the
 * same zod schemas the routes validate with, using the default configuration so the committed file does not depend
 * on anyone's environment; test/unit/api/openapi.test.ts fails when the committed file is stale.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '../src/api/server.js';
import { loadConfig } from '../src/config/env.js';

export const OPENAPI_FILE = join(import.meta.dirname, 'openapi.json');

/** The document as the app serves it at /openapi.json, serialized stably. */
export async function generateOpenApi(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hessian-openapi-'));
  // No Redis command is sent while building the document, so this works without a running Redis.
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
  const { server } = await buildServer(config, { logger: false });
  try {
    const res = await server.inject({ method: 'GET', url: '/openapi.json' });
    if (res.statusCode !== 200) throw new Error(`GET /openapi.json: ${res.statusCode} ${res.body}`);
    return `${JSON.stringify(res.json(), null, 2)}\n`;
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  writeFileSync(OPENAPI_FILE, await generateOpenApi());
  console.log(`wrote ${OPENAPI_FILE}`);
}
