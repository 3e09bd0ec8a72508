import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalArtifactStore as ArtifactStore } from '../../../src/storage/artifact-store.js';
import { writeFileAtomic } from '../../../src/storage/atomic-write.js';
import { writeArtifacts } from '../../../src/storage/result-artifacts.js';

describe('ArtifactStore', () => {
  const root = mkdtempSync(join(tmpdir(), 'hessian-store-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('publishes a bundle as a whole and keeps the first copy of identical content', async () => {
    const store = new ArtifactStore(root);
    await store.init();
    assert.equal(
      await store.putBundle('models', 'abc', [
        ['model.json', bytes('{}')],
        ['shard-0.bin', bytes('w')],
      ]),
      true,
    );
    assert.equal(await store.putBundle('models', 'abc', [['model.json', bytes('{}')]]), false);
    assert.deepEqual(readdirSync(store.bundleDir('models', 'abc')).sort(), ['model.json', 'shard-0.bin']);
    assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'no temporary directory left');
    assert.equal(new TextDecoder().decode(await store.readBundleFile('models', 'abc', 'shard-0.bin')), 'w');
  });

  it('never turns ids or file names into paths outside its directories', async () => {
    const store = new ArtifactStore(root);
    for (const id of ['../x', 'a/b', '', '.']) {
      await assert.rejects(store.putBundle('models', id, []), /invalid storage id/);
    }
    for (const name of [
      '../../etc/passwd',
      '.hidden',
      'x'.repeat(200),
      'kfac/../../x.npy',
      '/abs.npy',
      'a//b.npy',
      'a\\b.npy',
      'a/b/c/d/e.npy',
      'kfac/x\u0000/A.npy',
    ]) {
      await assert.rejects(store.writeResult('job1', name, bytes('x')), /invalid storage file name/);
      await assert.rejects(store.openResult('job1', name), /invalid storage file name/);
    }
  });

  it('writes and serves nested result names (kfac/0-dense/A.npy) inside the job directory', async () => {
    const store = new ArtifactStore(root);
    await store.init();
    await store.writeResult('job2', 'kfac/0-dense/A.npy', bytes('A'));
    assert.deepEqual(readdirSync(join(store.resultDir('job2'), 'kfac', '0-dense')), ['A.npy']);
    const opened = await store.openResult('job2', 'kfac/0-dense/A.npy');
    assert.equal(opened?.size, 1);
    opened?.stream.destroy();
    assert.equal(await store.openResult('job2', 'kfac/0-dense/B.npy'), null);
    await store.removeResults('job2');
    assert.ok(!readdirSync(join(root, 'results')).includes('job2'));
  });

  it('writeArtifacts refuses an unsafe array name before writing anything', async () => {
    const written: string[] = [];
    const array = { dtype: 'float32' as const, shape: [1], data: Float32Array.of(1) };
    await assert.rejects(
      writeArtifacts({ 'ok.npy': array, '../escape.npy': array }, async (name) => {
        written.push(name);
      }),
      /unsafe artifact name "\.\.\/escape\.npy"/,
    );
    assert.equal(written.length, 0);
    const infos = await writeArtifacts({ 'kfac/0-d/A.npy': array }, async (name) => {
      written.push(name);
    });
    assert.deepEqual(written, ['kfac/0-d/A.npy']);
    assert.equal(infos[0].name, 'kfac/0-d/A.npy');
  });

  it('overwrites a result atomically, so a re-run after a crash is harmless', async () => {
    const store = new ArtifactStore(root);
    await store.writeResult('job-1', 'hessian.npy', bytes('first'));
    await store.writeResult('job-1', 'hessian.npy', bytes('second'));
    const opened = await store.openResult('job-1', 'hessian.npy');
    assert.equal(opened?.size, 6);
    opened?.stream.destroy();
    assert.deepEqual(readdirSync(store.resultDir('job-1')), ['hessian.npy']);
    assert.equal(await store.openResult('job-1', 'missing.npy'), null);
  });

  it('writeFileAtomic leaves no temporary file when the write fails', async () => {
    const target = join(root, 'results', 'no-such-dir-as-file');
    await writeFileAtomic(target, 'x');
    await assert.rejects(writeFileAtomic(join(target, 'child.npy'), 'y'));
    assert.equal(readFileSync(target, 'utf8'), 'x');
    assert.ok(!readdirSync(join(root, 'results')).some((n) => n.endsWith('.tmp')));
  });
});
