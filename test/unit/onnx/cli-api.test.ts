/**
 * An ONNX file through the two front doors: `hessian compute --model model.onnx` (a child process) and
 * `POST /v1/models` with the .onnx as the one `model` part (the real app, inject, on Redis at REDIS_URL).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseNpy } from '../../../src/contract/data/npy.js';
import { cliArgs } from '../../helpers/cli.js';
import { relativeError } from '../../helpers/golden.js';
import { loadOnnxCase, ONNX_GOLDEN_DIR } from '../../helpers/onnx-golden.js';
import { buildTestServer } from '../api/helpers.js';

const run = promisify(execFile);
const CASE = 'onnx_cnn';
const dir = path.join(ONNX_GOLDEN_DIR, CASE);

describe('hessian compute --model x.onnx', () => {
  let out: string;
  before(async () => (out = await mkdtemp(path.join(os.tmpdir(), 'hessian-onnx-'))));
  after(async () => rm(out, { recursive: true, force: true }));

  it('computes the Hessian of an ONNX model, detected by content whatever its name', async () => {
    // Named .bin: the content, not the name, makes it ONNX.
    const renamed = path.join(out, 'exported.bin');
    await import('node:fs/promises').then((fs) => fs.copyFile(path.join(dir, 'model.onnx'), renamed));
    const { stderr } = await run(
      process.execPath,
      cliArgs(
        'compute',
        ...['--model', renamed],
        ...['--inputs', path.join(dir, 'inputs.npy')],
        ...['--targets', path.join(dir, 'targets.npy')],
        ...['--loss', 'categorical_crossentropy', '--method', 'hessian', '--backend', 'cpu', '--out', out],
      ),
      { env: { ...process.env, HESSIAN_DEBUG: '' } },
    );
    const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
    const c = loadOnnxCase(CASE);
    assert.equal(result.numParams, c.numParams, stderr);
    assert.deepEqual(result.parameters[0], c.layout[0]);
    assert.equal(result.verification.passed, true);
    const h = parseNpy(new Uint8Array(await readFile(path.join(out, 'hessian.npy'))));
    assert.ok(relativeError(h.data as Float32Array, c.hessian) < 1e-4);
  });
});

describe('POST /v1/models with an ONNX file', () => {
  let t: Awaited<ReturnType<typeof buildTestServer>>;
  before(async () => (t = await buildTestServer({ RATE_LIMIT_PER_IP: '0' })));
  after(async () => t?.close());

  const boundary = 'OnNxBoUnDaRy';
  const part = (name: string, filename: string, body: Buffer) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ),
      body,
      Buffer.from('\r\n'),
    ]);
  const upload = (parts: Buffer[]) =>
    t.server.inject({
      method: 'POST',
      url: '/v1/models',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]),
    });

  it('accepts the .onnx as the one model part, with its layout, and queues a job on it', async () => {
    const onnx = readFileSync(path.join(dir, 'model.onnx'));
    const r = await upload([part('model', 'model.onnx', onnx)]);
    assert.equal(r.statusCode, 201, r.body);
    const body = r.json();
    const c = loadOnnxCase(CASE);
    assert.equal(body.numParams, c.numParams);
    assert.deepEqual(
      body.parameters.map((p: { name: string }) => p.name),
      c.layout.map((p) => p.name),
    );
    assert.ok(body.layers.some((l: { className: string }) => l.className === 'Conv'));

    const d = await t.server.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: Buffer.concat([
        part('inputs', 'inputs.npy', readFileSync(path.join(dir, 'inputs.npy'))),
        part('targets', 'targets.npy', readFileSync(path.join(dir, 'targets.npy'))),
        Buffer.from(`--${boundary}--\r\n`),
      ]),
    });
    assert.equal(d.statusCode, 201, d.body);
    const job = await t.server.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: { modelId: body.id, datasetId: d.json().id, loss: c.request.loss, method: { name: 'trace' } },
    });
    assert.equal(job.statusCode, 202, job.body);
  });

  it('refuses weights parts next to an ONNX model, and an unsupported op by name', async () => {
    const onnx = readFileSync(path.join(dir, 'model.onnx'));
    const extra = await upload([
      part('model', 'model.onnx', onnx),
      part('weights', 'w.bin', Buffer.from([1])),
    ]);
    assert.equal(extra.statusCode, 422, extra.body);
    assert.match(extra.json().detail, /without "weights" parts/);
    // The CNN with its Conv op type renamed to a same-length unknown one.
    const bytes = Buffer.from(onnx);
    const at = bytes.indexOf(Buffer.from('\x22\x04Conv'));
    assert.ok(at > 0);
    bytes.write('Cnvx', at + 2, 'latin1');
    const refused = await upload([part('model', 'model.onnx', bytes)]);
    assert.equal(refused.statusCode, 422, refused.body);
    assert.equal(refused.json().code, 'unsupported_layer');
    assert.match(refused.json().detail, /Cnvx at node \d+ \("\/conv1\/Conv"\).*Supported: /);
  });
});
