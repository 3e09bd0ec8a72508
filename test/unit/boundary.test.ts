/**
 * The API/engine boundary is a rule, not a convention: the API side (HTTP app, storage, config, start-up tooling,
 * the queue modules the API uses) and src/contract load and run without TF.js, and the lint fails an import that
 * would break that.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ESLint } from 'eslint';
import { REPO_ROOT } from '../integration/helpers/stack.js';

const run = promisify(execFile);

/** Every .ts file below a source folder. */
function sources(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

const API_SIDE = [
  ...sources('src/api'),
  ...sources('src/contract'),
  ...sources('src/storage'),
  ...sources('src/config'),
  ...sources('src/runtime'),
  'src/queue/producer.ts',
  'src/queue/names.ts',
  'src/queue/redis.ts',
  'src/queue/worker-registry.ts',
];

describe('the API/engine boundary', () => {
  it('lets every API-side module load, and the app answer, with TF.js unavailable', async () => {
    const script = `
      const files = ${JSON.stringify(API_SIDE.map((f) => join(REPO_ROOT, f)))};
      for (const f of files) await import(f);
      await assert.rejects(import('@tensorflow/tfjs'), /TF.js is unavailable/);
      const { buildServer } = await import(${JSON.stringify(join(REPO_ROOT, 'src/api/server.ts'))});
      const { loadConfig } = await import(${JSON.stringify(join(REPO_ROOT, 'src/config/env.ts'))});
      const config = loadConfig({ QUEUE_PREFIX: 'boundary-' + process.pid, DATA_DIR: '/tmp/hessian-boundary' });
      const { server } = await buildServer(config, { logger: false });
      const r = await server.inject({ url: '/healthz' });
      await server.close();
      console.log('loaded', files.length, r.statusCode);
    `;
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        join(REPO_ROOT, 'test/helpers/block-tfjs.mjs'),
        '--input-type=module',
        '-e',
        `import assert from 'node:assert/strict';\n${script}`,
      ],
      { cwd: REPO_ROOT, timeout: 60_000 },
    );
    assert.equal(stdout.trim(), `loaded ${API_SIDE.length} 200`);
  });

  it('fails the lint when an API-side module imports TF.js or the engine', async () => {
    const eslint = new ESLint({ cwd: REPO_ROOT });
    const plant = async (file: string, line: string) => {
      const text = `${line}\n${readFileSync(join(REPO_ROOT, file), 'utf8')}`;
      const [result] = await eslint.lintText(text, { filePath: join(REPO_ROOT, file) });
      return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
    };
    const cases: [string, string, RegExp][] = [
      ['src/api/uploads.ts', "import '@tensorflow/tfjs';", /never loads TF\.js/],
      [
        'src/queue/producer.ts',
        "import * as tf from '@tensorflow/tfjs-node';\nvoid tf;",
        /never loads TF\.js/,
      ],
      [
        'src/api/routes/v1/jobs.ts',
        "import { compute } from '../../../engine/index.js';\nvoid compute;",
        /engine/,
      ],
      ['src/contract/request.ts', "import { compute } from '../engine/compute.js';\nvoid compute;", /engine/],
      [
        'src/contract/job.ts',
        "import { QUEUE_NAME } from '../queue/names.js';\nvoid QUEUE_NAME;",
        /only zod/,
      ],
    ];
    for (const [file, line, message] of cases) {
      const messages = await plant(file, line);
      assert.ok(
        messages.some((m) => message.test(m)),
        `${relative(REPO_ROOT, join(REPO_ROOT, file))} with ${JSON.stringify(line)}: ${JSON.stringify(messages)}`,
      );
    }
    for (const file of ['src/api/uploads.ts', 'src/contract/request.ts']) {
      assert.deepEqual(await plant(file, ''), [], `${file} as committed passes the rule`);
    }
  });
});
