/**
 * Worker start-up as the images run it: an explicit native backend that cannot load stops the worker with one
 * clear line (here no native binding is installed, as in a worker image whose binding failed to build); a worker
 * that starts logs its backend and device and registers, so the API's /readyz and /metrics show it. Uses the local
 * Redis with a queue prefix of its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { buildServer } from '../../../src/api/server.js';
import { loadConfig } from '../../../src/config/env.js';
import { initBackend } from '../../../src/engine/backend.js';
import { EngineError } from '../../../src/contract/errors.js';
import { createApiRedis } from '../../../src/queue/redis.js';
import { listWorkers, startHeartbeat, type WorkerInfo } from '../../../src/queue/worker-registry.js';
import { cliArgs } from '../../helpers/cli.js';
import { ROOT } from './deploy-files.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test-deploy-${randomUUID().slice(0, 8)}`;
const dataDir = mkdtempSync(join(tmpdir(), 'hessian-deploy-'));
let redis: Redis;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `hessian worker`; `until` decides from stdout when the caller takes over (the process keeps running). */
function startWorker(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, cliArgs('worker', ...args), {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL, QUEUE_PREFIX: prefix, DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = { code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  const exited = new Promise<Run>((resolve) =>
    child.once('exit', (code) => {
      run.code = code;
      resolve(run);
    }),
  );
  const logged = (msg: string, timeoutMs = 30_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${msg}" log within ${timeoutMs} ms: ${run.stderr}`)),
        timeoutMs,
      );
      const check = () => {
        const line = run.stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.msg === msg);
        if (line) {
          clearTimeout(timer);
          child.stdout.off('data', check);
          resolve(line);
        }
      };
      child.stdout.on('data', check);
      check();
    });
  return { child, run, exited, logged };
}

before(() => {
  redis = createApiRedis(REDIS_URL, { enableOfflineQueue: true });
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('worker start-up', () => {
  it('initBackend("tensorflow") rejects with backend_unavailable when no native binding is installed', async () => {
    await assert.rejects(initBackend('tensorflow'), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'backend_unavailable');
      assert.match(e.message, /HESSIAN_BACKEND=tensorflow/);
      return true;
    });
  });

  it('refuses to start with HESSIAN_BACKEND=tensorflow and no native binding: exit 1 and one clear line', async () => {
    const { exited } = startWorker({ HESSIAN_BACKEND: 'tensorflow' });
    const run = await exited;
    assert.equal(run.code, 1);
    const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
    assert.match(
      lines[0],
      /^hessian worker: HESSIAN_BACKEND=tensorflow but no native TF\.js binding loads \(.*\)\. Install @tensorflow\/tfjs-node or @tensorflow\/tfjs-node-gpu, or choose cpu or wasm\.$/,
    );
    // It stopped before taking part in the queue.
    assert.doesNotMatch(run.stdout, /worker ready/);
    assert.deepEqual(await listWorkers(redis, prefix), []);
  });

  it('logs its backend and device, registers for /readyz and /metrics, and deregisters on SIGTERM', async () => {
    const heartbeatFile = join(dataDir, 'worker.alive');
    const worker = startWorker({ HESSIAN_BACKEND: 'cpu' }, ['--heartbeat-file', heartbeatFile]);
    try {
      const selected = await worker.logged('backend selected');
      assert.equal(selected.backend, 'cpu');
      assert.equal(selected.device, 'cpu (JavaScript)');
      await worker.logged('worker registered');
      assert.ok(existsSync(heartbeatFile), 'the heartbeat file is written');

      const workers = await listWorkers(redis, prefix);
      assert.equal(workers.length, 1);
      assert.equal(workers[0].backend, 'cpu');
      assert.equal(workers[0].pid, worker.child.pid);

      const { server } = await buildServer(
        loadConfig({ REDIS_URL, QUEUE_PREFIX: prefix, DATA_DIR: dataDir }),
        {
          logger: false,
        },
      );
      try {
        const ready = (await server.inject('/readyz')).json();
        assert.equal(ready.status, 'ok');
        assert.equal(ready.workers.alive, 1);
        assert.deepEqual(ready.workers.byBackend, { cpu: 1 });
        assert.equal(ready.workers.list[0].device, 'cpu (JavaScript)');
        const metrics = (await server.inject('/metrics')).body;
        assert.match(metrics, /^hessian_workers\{backend="cpu"\} 1$/m);
        assert.match(metrics, /^hessian_workers\{backend="tensorflow"\} 0$/m);
      } finally {
        await server.close();
      }
    } finally {
      worker.child.kill('SIGTERM');
    }
    const run = await worker.exited;
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await listWorkers(redis, prefix), []);
  });
});

describe('worker registry', () => {
  it('drops a worker whose heartbeat stopped once its record expires', async () => {
    const info: WorkerInfo = {
      id: 'crashed-worker',
      backend: 'tensorflow',
      device: 'tensorflow (GPU)',
      host: 'gpu-host',
      pid: 1,
      concurrency: 1,
      startedAt: new Date().toISOString(),
    };
    // A long interval and no stop(): like a process killed right after its first beat.
    const heartbeat = await startHeartbeat(redis, prefix, info, { intervalMs: 60_000, ttlSeconds: 1 });
    assert.deepEqual(
      (await listWorkers(redis, prefix)).map((w) => w.id),
      ['crashed-worker'],
    );
    await new Promise((r) => setTimeout(r, 1100));
    assert.deepEqual(await listWorkers(redis, prefix), []);
    assert.equal(await redis.scard(`${prefix}:svc:workers`), 0, 'the expired id is pruned from the index');
    await heartbeat.stop();
  });
});
