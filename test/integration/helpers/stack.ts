/**
 * A real service stack for integration tests: the API over HTTP on a free port (built in-process from the same
 * app as `hessian serve`), real `hessian worker` processes, Redis at REDIS_URL (or a private one), a unique queue
 * prefix and a temporary DATA_DIR, all removed by `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { buildServer } from '../../../src/api/server.js';
import { loadConfig, type Config } from '../../../src/config/env.js';
import { cliArgs } from '../../helpers/cli.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export interface StackOptions {
  /** Worker processes to start (default 1). */
  workers?: number;
  /** Extra environment for the API and the workers. */
  env?: Record<string, string>;
  /** Extra environment for the workers only (e.g. a DATA_DIR of their own, as on another host). */
  workerEnv?: Record<string, string>;
}

/** One JSON log line of a worker process (pino), with the worker that wrote it. */
export interface WorkerLogLine {
  worker: ChildProcess;
  line: Record<string, any>;
}

export interface Stack {
  url: string;
  config: Readonly<Config>;
  env: Record<string, string>;
  server: FastifyInstance;
  workers: ChildProcess[];
  /** Every JSON line the workers have logged so far, in order of arrival. */
  logs: WorkerLogLine[];
  /** Resolves with the first logged line (past or future) that `match` accepts; rejects after `timeoutMs`. */
  waitForLog(match: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<WorkerLogLine>;
  /** Starts one more worker process and waits until it is connected. */
  startWorker(): Promise<ChildProcess>;
  /** Stops a worker (SIGKILL by default, as a crash would) and waits for it to exit. */
  killWorker(worker: ChildProcess, signal?: NodeJS.Signals): Promise<void>;
  close(): Promise<void>;
}

async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((r) => child.once('exit', r));
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hessian-it-'));
  const env: Record<string, string> = {
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `it-${randomBytes(5).toString('hex')}`,
    // Workers announce readiness in their info log, which the stack reads (and discards unless TEST_LOG_LEVEL).
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
    HESSIAN_BACKEND: 'cpu',
    WORKER_LOCK_MS: '2000',
    ...opts.env,
  };
  const config = loadConfig(env);
  // TEST_API_LOG=1 shows the API's errors (the server is otherwise silent in tests).
  const { server } = await buildServer(config, {
    logger: process.env.TEST_API_LOG ? { level: 'error' } : false,
  });
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  const workers: ChildProcess[] = [];
  const logs: WorkerLogLine[] = [];

  const startWorker = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, cliArgs('worker'), {
      env: { ...process.env, ...env, ...opts.workerEnv },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    workers.push(child);
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const text of lines) {
        try {
          logs.push({ worker: child, line: JSON.parse(text) });
        } catch {
          // not a log line (a compute child's own output)
        }
      }
    });
    await new Promise<void>((resolveReady, reject) => {
      let buffered = '';
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString();
        if (process.env.TEST_LOG_LEVEL) process.stderr.write(chunk);
        if (buffered.includes('worker ready')) resolveReady();
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
    });
    return child;
  };

  for (let i = 0; i < (opts.workers ?? 1); i++) await startWorker();

  return {
    url: address,
    config,
    env,
    server,
    workers,
    logs,
    async waitForLog(match, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.find((l) => match(l.line));
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching worker log line within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    startWorker,
    async killWorker(worker, signal = 'SIGKILL') {
      worker.kill(signal);
      await waitForExit(worker);
    },
    async close() {
      await Promise.all(
        workers.map(async (w) => {
          w.kill('SIGTERM');
          const timer = setTimeout(() => w.kill('SIGKILL'), 5000);
          await waitForExit(w);
          clearTimeout(timer);
        }),
      );
      await server.close();
      await deleteKeys(config.redisUrl, config.queuePrefix).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Removes every Redis key of a test's prefix. */
export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
