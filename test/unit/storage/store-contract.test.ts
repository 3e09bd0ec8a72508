/**
 * One contract for both storage implementations: the local directory and S3-compatible object storage (a real S3
 * API server, s3rver, on a free port, through the real @aws-sdk/client-s3). Bundles publish whole or not at all,
 * identical content keeps its first copy, missing files throw ENOENT, results overwrite and stream, the expiry
 * listing sees ids by age, and ids and names never escape their place.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalArtifactStore, type ArtifactStore } from '../../../src/storage/artifact-store.js';
import { S3ArtifactStore } from '../../../src/storage/s3-artifact-store.js';
import { parseStorage } from '../../../src/storage/storage-spec.js';
import { loadConfig } from '../../../src/config/env.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../../helpers/s3-server.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

let s3: S3Server;
const dirs: string[] = [];
before(async () => {
  s3 = await startS3Server();
});
after(async () => {
  await s3.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const s3Location = (prefix: string) => ({
  bucket: 'hessian-contract',
  prefix,
  endpoint: s3.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
});

const implementations: [string, () => Promise<ArtifactStore>][] = [
  [
    'local directory',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hessian-contract-'));
      dirs.push(dir);
      return new LocalArtifactStore(dir);
    },
  ],
  [
    'S3 (s3rver)',
    async () =>
      new S3ArtifactStore(s3Location(`run-${Math.random().toString(36).slice(2)}/data`), {
        credentials: S3RVER_CREDENTIALS,
      }),
  ],
];

for (const [label, open] of implementations) {
  describe(`ArtifactStore contract: ${label}`, () => {
    let store: ArtifactStore;
    before(async () => {
      store = await open();
      await store.init();
      await store.init(); // idempotent (the bucket exists the second time)
    });

    it('is writable once initialised', async () => {
      assert.equal(await store.isWritable(), true);
    });

    it('publishes a bundle, keeps the first copy of an id, lists and reads its files', async () => {
      assert.equal(await store.hasBundle('models', 'm1'), false);
      const published = await store.putBundle('models', 'm1', [
        ['model.json', bytes('{"a":1}')],
        // A file given as pieces (a .npy header, then the data) is stored as their concatenation.
        ['shard-0.bin', [bytes('he'), bytes('llo')]],
      ]);
      assert.equal(published, true);
      assert.equal(await store.hasBundle('models', 'm1'), true);
      assert.equal(await store.putBundle('models', 'm1', [['model.json', bytes('other')]]), false);
      assert.deepEqual((await store.listBundleFiles('models', 'm1')).sort(), ['model.json', 'shard-0.bin']);
      assert.equal(text(await store.readBundleFile('models', 'm1', 'model.json')), '{"a":1}');
      assert.equal(text(await store.readBundleFile('models', 'm1', 'shard-0.bin')), 'hello');
    });

    it('throws ENOENT for a file or a bundle that is not there', async () => {
      for (const [id, name] of [
        ['m1', 'model.onnx'],
        ['never', 'model.json'],
      ]) {
        await assert.rejects(store.readBundleFile('models', id, name), (e: NodeJS.ErrnoException) => {
          assert.equal(e.code, 'ENOENT');
          return true;
        });
      }
    });

    it('removes a bundle whole', async () => {
      await store.putBundle('datasets', 'd1', [['inputs.npy', bytes('x')]]);
      await store.removeBundle('datasets', 'd1');
      assert.equal(await store.hasBundle('datasets', 'd1'), false);
      await assert.rejects(store.readBundleFile('datasets', 'd1', 'inputs.npy'), { code: 'ENOENT' });
      await store.removeBundle('datasets', 'd1'); // idempotent
    });

    it('writes, overwrites and streams results, nested names included, and removes them', async () => {
      await store.writeResult('job-1', 'hessian.npy', bytes('first'));
      await store.writeResult('job-1', 'hessian.npy', bytes('second'));
      await store.writeResult('job-1', 'kfac/0-dense/A.npy', bytes('A'));
      const opened = await store.openResult('job-1', 'hessian.npy');
      assert.ok(opened);
      assert.equal(opened.size, 6);
      assert.ok(Math.abs(opened.mtimeMs - Date.now()) < 60_000, 'modification time is now');
      assert.equal(text(await buffer(opened.stream)), 'second');
      const nested = await store.openResult('job-1', 'kfac/0-dense/A.npy');
      assert.equal(text(await buffer(nested!.stream)), 'A');
      assert.equal(await store.openResult('job-1', 'missing.npy'), null);
      // A split job's pieces go once combined; the other results stay.
      await store.writeResult('job-1', 'pieces/0/rows.npy', bytes('r0'));
      await store.writeResult('job-1', 'pieces/1/rows.npy', bytes('r1'));
      await store.removeResultDir('job-1', 'pieces');
      assert.equal(await store.openResult('job-1', 'pieces/0/rows.npy'), null);
      assert.equal(await store.openResult('job-1', 'pieces/1/rows.npy'), null);
      assert.equal(text(await buffer((await store.openResult('job-1', 'hessian.npy'))!.stream)), 'second');
      await store.removeResultDir('job-1', 'pieces'); // nothing left: no error
      await store.removeResults('job-1');
      assert.equal(await store.openResult('job-1', 'hessian.npy'), null);
      assert.equal(await store.openResult('job-1', 'kfac/0-dense/A.npy'), null);
    });

    it('lists ids by age for the expiry sweep', async () => {
      await store.putBundle('arrays', 'a-old', [['array.npy', bytes('1')]]);
      await store.writeResult('job-2', 'diagonal.npy', bytes('d'));
      assert.ok((await store.listOlderThan('arrays', 0)).includes('a-old'));
      assert.ok((await store.listOlderThan('results', 0)).includes('job-2'));
      assert.deepEqual(await store.listOlderThan('arrays', 60_000), [], 'nothing is a minute old');
      assert.deepEqual(await store.listOlderThan('results', 60_000), []);
    });

    it('never turns ids or file names into paths or keys outside their place', async () => {
      for (const id of ['../x', 'a/b', '', '.']) {
        await assert.rejects(store.putBundle('models', id, []), /invalid storage id/);
        await assert.rejects(store.writeResult(id, 'x.npy', bytes('x')), /invalid storage id/);
      }
      for (const name of ['../../etc/passwd', '.complete', '.hidden', 'a/b.json', 'x'.repeat(200)]) {
        await assert.rejects(
          store.putBundle('models', 'm2', [[name, bytes('x')]]),
          /invalid storage file name/,
        );
        await assert.rejects(store.readBundleFile('models', 'm1', name), /invalid storage file name/);
      }
      for (const name of ['kfac/../../x.npy', '/abs.npy', 'a//b.npy', 'a\\b.npy', 'kfac/x\u0000/A.npy']) {
        await assert.rejects(store.writeResult('job1', name, bytes('x')), /invalid storage file name/);
        await assert.rejects(store.openResult('job1', name), /invalid storage file name/);
      }
      assert.equal(await store.hasBundle('models', 'm2'), false, 'a refused bundle leaves nothing');
    });
  });
}

describe('S3 specifics', () => {
  it('keeps a bundle invisible until its marker is written (an upload that died half-way)', async () => {
    const location = s3Location('half');
    const store = new S3ArtifactStore(location, { credentials: S3RVER_CREDENTIALS });
    await store.init();
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
    try {
      // The files of a bundle whose writer died before its marker.
      await client.send(
        new PutObjectCommand({ Bucket: location.bucket, Key: 'half/models/m3/model.json', Body: 'x' }),
      );
      assert.equal(await store.hasBundle('models', 'm3'), false);
      // The next upload of the same content completes it.
      assert.equal(await store.putBundle('models', 'm3', [['model.json', bytes('{}')]]), true);
      assert.equal(await store.hasBundle('models', 'm3'), true);
      // Everything lives under the prefix: models/m3/{model.json,.complete}.
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: location.bucket, Prefix: 'half/' }),
      );
      assert.deepEqual((listed.Contents ?? []).map((o) => o.Key).sort(), [
        'half/models/m3/.complete',
        'half/models/m3/model.json',
      ]);
      // The sweep would find m3 by age, like a directory.
      assert.deepEqual(await store.listOlderThan('models', 0), ['m3']);
      assert.deepEqual(await store.listOlderThan('tmp', 0), [], 'S3 has no staging area');
    } finally {
      client.destroy();
      store.destroy();
    }
  });

  it('reads STORAGE_URL and the usual S3 variables, and refuses what is not a bucket URL', () => {
    assert.deepEqual(
      parseStorage({ dataDir: '/d', storageUrl: '', endpoint: '', region: 'x', forcePathStyle: undefined }),
      { kind: 'local', dir: '/d' },
    );
    const config = loadConfig({
      STORAGE_URL: 's3://my-bucket/some/prefix/',
      AWS_ENDPOINT_URL_S3: 'http://minio:9000',
      AWS_REGION: 'eu-west-1',
    });
    assert.deepEqual(config.storage, {
      kind: 's3',
      bucket: 'my-bucket',
      prefix: 'some/prefix',
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    assert.equal(loadConfig({ STORAGE_URL: 's3://aws-bucket' }).storage.kind, 's3');
    assert.equal(
      (loadConfig({ STORAGE_URL: 's3://aws-bucket' }).storage as { forcePathStyle: boolean }).forcePathStyle,
      false,
    );
    for (const bad of ['http://x/y', 's3://B', 's3://ab', 's3://bucket/../x', 's3://bucket/a b']) {
      assert.throws(() => loadConfig({ STORAGE_URL: bad }), /STORAGE_URL /, bad);
    }
    assert.throws(
      () => loadConfig({ S3_FORCE_PATH_STYLE: 'maybe', AWS_SECRET_ACCESS_KEY: 'hunter2' }),
      (e: Error) => /S3_FORCE_PATH_STYLE/.test(e.message) && !e.message.includes('hunter2'),
    );
  });
});
