/**
 * Acceptance: the service as a user starts it, `npm start` on a random port (API + one worker process), driven by
 * a client over HTTP: dense and convolutional models, `hessian` jobs whose downloaded hessian.npy matches the
 * float64 reference, and the 4xx/404 answers to garbage.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, pingRedis } from '../../src/runtime/redis-server.js';
import { loadGoldenCase, relativeError } from '../helpers/golden.js';
import { Client, uploadGolden } from './helpers/client.js';
import { cliArgs } from '../helpers/cli.js';
import { deleteKeys, REPO_ROOT } from './helpers/stack.js';

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Pid of the `hessian serve` node process (npm and sh sit above it). */
  apiPid: () => number;
}

/** Starts `npm start` in its own process group and waits until /readyz answers 200. */
async function npmStart(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const child = spawn('npm', ['start', '--silent'], {
    cwd: REPO_ROOT,
    // HOST unset: the default must be 127.0.0.1.
    env: { ...process.env, HOST: '', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const url = `http://127.0.0.1:${port}`;
  // `npm start` compiles dist/ first (prestart): a fresh checkout's first build can take half a minute here.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited early (${child.exitCode}):\n${out}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200 && out.includes('worker ready')) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`npm start not ready after 120 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const apiPid = () => {
    const line = out.split('\n').find((l) => l.includes('hessian API listening'));
    return JSON.parse(line!).pid as number;
  };
  return { child, url, output: () => out, apiPid };
}

/** Live processes in a process group. */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Stops as Ctrl-C does (SIGINT to the whole foreground process group) and waits until the group has exited. */
async function stop(s: Started): Promise<void> {
  process.kill(-s.child.pid!, 'SIGINT');
  const deadline = Date.now() + 20_000;
  while (groupMembers(s.child.pid!).length > 0) {
    if (Date.now() > deadline) {
      process.kill(-s.child.pid!, 'SIGKILL');
      throw new Error(`processes left after shutdown: ${groupMembers(s.child.pid!)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm start (embedded: API + worker)', { timeout: 180_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hessian-accept-'));
  const prefix = `accept-${randomBytes(4).toString('hex')}`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  after(async () => {
    await deleteKeys(redisUrl, prefix).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('computes Hessians of dense and convolutional models that match float64 references to 1e-4', async () => {
    const s = await npmStart({ DATA_DIR: dataDir, QUEUE_PREFIX: prefix, REDIS_URL: redisUrl });
    try {
      const client = new Client(s.url);
      const cases = ['mlp_tanh_cce_fused', 'cnn_two_conv_maxpool'];
      const jobs = await Promise.all(
        cases.map(async (name) => {
          const ids = await uploadGolden(client, name);
          const r = await client.post('/v1/jobs', {
            modelId: ids.modelId,
            datasetId: ids.datasetId,
            loss: ids.loss,
            parameters: ids.parameters,
            method: { name: 'hessian' },
          });
          assert.equal(r.status, 202, JSON.stringify(r.body));
          return [name, r.body.id as string] as const;
        }),
      );
      for (const [name, id] of jobs) {
        const job = await client.waitForJob(id, 90_000);
        assert.equal(job.status, 'succeeded', `${name}: ${JSON.stringify(job.error)}`);
        const hessian = await client.download(`/v1/jobs/${id}/artifacts/hessian.npy`);
        const reference = loadGoldenCase(name).hessian;
        assert.equal(hessian.data.length, reference.length);
        // float32 through a few layers rounds at ~1e-6 relative; a wrong second derivative is >= 1e-2.
        const err = relativeError(hessian.data as Float32Array, reference);
        assert.ok(err <= 1e-4, `${name}: relative Frobenius error ${err}`);
      }

      const garbage = new FormData();
      garbage.append('model', new Blob(['this is not json']), 'model.json');
      const bad = await client.post('/v1/models', garbage);
      assert.ok(bad.status >= 400 && bad.status < 500);
      assert.match(bad.headers.get('content-type')!, /application\/problem\+json/);
      const unknown = await client.get('/v1/jobs/5a1d7e0c-0000-4000-8000-000000000000');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.code, 'job_not_found');
    } finally {
      await stop(s);
    }
  });

  it('starts a private redis-server when nothing answers at REDIS_URL, and stops it on exit', async () => {
    const deadPort = await freePort();
    const s = await npmStart({
      DATA_DIR: dataDir,
      QUEUE_PREFIX: prefix,
      REDIS_URL: `redis://127.0.0.1:${deadPort}`,
    });
    assert.match(s.output(), /started a private redis-server/);
    const ready = await (await fetch(`${s.url}/readyz`)).json();
    assert.equal(ready.checks.redis, 'ok');
    const listening = JSON.parse(
      s
        .output()
        .split('\n')
        .find((l) => l.includes('hessian API listening'))!,
    );
    assert.match(listening.url, /^http:\/\/127\.0\.0\.1:/, 'listens on 127.0.0.1 unless HOST says otherwise');
    const privateUrl = JSON.parse(
      s
        .output()
        .split('\n')
        .find((l) => l.includes('started a private redis-server'))!,
    ).redisUrl;
    await stop(s); // Ctrl-C: waits until no process of the group (npm, API, worker) is left
    const out = s.output();
    assert.equal(await pingRedis(privateUrl, 500), false, 'the private redis-server is stopped too');
    const order = ['shutting down', 'the embedded worker stopped', 'the private redis-server stopped'].map(
      (m) => out.indexOf(m),
    );
    assert.ok(
      order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])),
      `shutdown order:\n${out}`,
    );
    assert.doesNotMatch(out, /^\s+at /m, `a quiet shutdown prints no stack traces:\n${out}`);
    assert.doesNotMatch(out, /ECONNREFUSED|"level":50/, `nor connection errors:\n${out}`);
  });

  it('exits with a message naming both fixes when there is no Redis and no redis-server', async () => {
    const deadPort = await freePort();
    // A PATH holding only node: no redis-server to fall back on.
    const bin = mkdtempSync(join(tmpdir(), 'hessian-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    try {
      const child = spawn(process.execPath, cliArgs('serve', '--embedded'), {
        env: { ...process.env, PATH: bin, REDIS_URL: `redis://127.0.0.1:${deadPort}`, DATA_DIR: dataDir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr!.on('data', (c) => (err += c));
      const code = await new Promise((r) => child.once('exit', r));
      assert.equal(code, 1);
      assert.match(err, /REDIS_URL/);
      assert.match(err, /redis-server/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
