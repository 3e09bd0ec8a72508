/**
 * How children and threads find their entry module (src/runtime/entry.ts): compiled callers start compiled entries
 * with plain node, source callers start source entries through tsx; and bin/hessian.js when dist/ is missing.
 */
import assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { siblingEntry } from '../../../src/runtime/entry.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('siblingEntry', () => {
  it('starts the compiled sibling with plain node when the caller is compiled JavaScript', () => {
    const entry = siblingEntry('file:///app/dist/queue/child-pool.js', './processor-entry');
    assert.deepEqual(entry, { file: '/app/dist/queue/processor-entry.js', execArgv: [] });
    assert.equal(
      siblingEntry('file:///app/dist/api/plugins/x.js', '../tasks').file,
      '/app/dist/api/tasks.js',
    );
  });

  it('starts the TypeScript sibling through tsx (by absolute URL) when the caller runs from source', () => {
    const entry = siblingEntry('file:///app/src/queue/child-pool.ts', './processor-entry');
    assert.equal(entry.file, '/app/src/queue/processor-entry.ts');
    assert.equal(entry.execArgv.length, 2);
    assert.equal(entry.execArgv[0], '--import');
    assert.match(entry.execArgv[1], /^file:\/\/\/.*\/node_modules\/tsx\//);
  });

  it('gives a source entry that loads in a child started from another working directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-entry-'));
    try {
      writeFileSync(
        join(dir, 'child.ts'),
        'const n: number = 42;\nprocess.send!({ n }, () => process.exit(0));\n',
      );
      const entry = siblingEntry(`file://${dir}/parent.ts`, './child');
      const child = fork(entry.file, [], { execArgv: entry.execArgv, cwd: tmpdir(), stdio: 'ignore' });
      const message = await new Promise((resolve, reject) => {
        child.once('message', resolve);
        child.once('exit', (code) => reject(new Error(`child exited with ${code} before answering`)));
      });
      assert.deepEqual(message, { n: 42 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the sources', () => {
  it('hold no JavaScript: every entry module is TypeScript, compiled to dist/', () => {
    // The results pages' browser script is an asset served as is (copied to dist/ by the build), not a module here.
    const js = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter(
      (f) => /\.[cm]?js$/.test(f) && !f.startsWith(join('api', 'pages', 'static')),
    );
    assert.deepEqual(js, []);
  });
});

describe('bin/hessian.js', () => {
  it('says in one line to run `npm run build` when dist/ is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-bin-'));
    try {
      mkdirSync(join(dir, 'bin'));
      copyFileSync(join(ROOT, 'bin/hessian.js'), join(dir, 'bin/hessian.js'));
      writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
      const run = spawnSync(process.execPath, [join(dir, 'bin/hessian.js'), '--help'], { encoding: 'utf8' });
      assert.equal(run.status, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^hessian: dist\/ is missing; run `npm run build` first[^\n]*\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
