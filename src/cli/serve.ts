/**
 * `hessian serve [--embedded]`: the HTTP API. With --embedded (what `npm start` runs) it also starts one worker
 * process and, when nothing answers at REDIS_URL but `redis-server` is on PATH, a private Redis that is stopped on
 * exit. The engine never runs in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pino } from 'pino';
import { buildServer } from '../api/server.js';
import { findOnPath, pingRedis, startRedisServer, type RedisServerHandle } from '../runtime/redis-server.js';
import { siblingEntry } from '../runtime/entry.js';
import { commandPrologue } from './prologue.js';
import { startSweeper } from '../storage/sweeper.js';

const HELP = `usage: hessian serve [--embedded] [--port N] [--host H]

Runs the HTTP API (docs at /docs). Configured by environment variables (PORT, HOST, REDIS_URL, DATA_DIR, API_KEYS,
MAX_UPLOAD_BYTES, MAX_DENSE_PARAMS, LOG_LEVEL, ...; see docs/service.md).

  --embedded   also run one worker process, and a private redis-server if nothing answers at REDIS_URL
  --port N     overrides PORT (0 picks a free port)
  --host H     overrides HOST`;

/** The CLI again, compiled or source like this module, for the embedded worker. */
const MAIN = siblingEntry(import.meta.url, './main');

export async function main(argv: string[]): Promise<number> {
  const start = commandPrologue(
    'serve',
    argv,
    { embedded: { type: 'boolean', default: false }, port: { type: 'string' }, host: { type: 'string' } },
    HELP,
    (v) => ({
      ...(v.port ? { PORT: String(v.port) } : {}),
      ...(v.host ? { HOST: String(v.host) } : {}),
    }),
  );
  if ('exitCode' in start) return start.exitCode;
  const args = start.values;
  let config = start.config;
  const logger = pino({ level: config.logLevel, base: { role: 'api', pid: process.pid } });

  let privateRedis: RedisServerHandle | undefined;
  let worker: ChildProcess | undefined;
  if (args.embedded) {
    if (!(await pingRedis(config.redisUrl))) {
      if (!findOnPath('redis-server')) {
        console.error(
          `hessian serve: nothing answers at REDIS_URL=${config.redisUrl}. Either start Redis there ` +
            `(e.g. "redis-server" or "docker run -p 6379:6379 redis:7") or set REDIS_URL to a running Redis, ` +
            `or install redis-server on the PATH so --embedded can start a private one.`,
        );
        return 1;
      }
      privateRedis = await startRedisServer();
      logger.info(
        { redisUrl: privateRedis.url },
        `no Redis at ${config.redisUrl}: started a private redis-server`,
      );
      config = Object.freeze({ ...config, redisUrl: privateRedis.url });
    }
    worker = spawn(process.execPath, [...MAIN.execArgv, MAIN.file, 'worker'], {
      env: { ...process.env, REDIS_URL: config.redisUrl },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    logger.info({ workerPid: worker.pid }, 'started an embedded worker process');
  }

  const { server, services } = await buildServer(config);
  const stopSweeper = startSweeper(services.store, services.meta, logger);
  let address: string;
  try {
    address = await server.listen({ port: config.port, host: config.host });
  } catch (e) {
    logger.error({ err: (e as Error).message }, 'cannot listen');
    worker?.kill('SIGTERM');
    await privateRedis?.stop();
    return 1;
  }
  logger.info({ url: address, docs: `${address}/docs` }, 'hessian API listening');

  let stopping = false;
  await new Promise<void>((resolve) => {
    const stop = async (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ why }, 'shutting down');
      stopSweeper();
      await server.close().catch(() => undefined);
      if (worker && worker.exitCode === null) {
        const exited = new Promise((r) => worker!.once('exit', r));
        worker.kill('SIGTERM');
        const timer = setTimeout(() => worker!.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (worker) logger.info('the embedded worker stopped');
      // Last, so the API and the worker never see their Redis vanish while they close.
      if (privateRedis) {
        await privateRedis.stop();
        logger.info('the private redis-server stopped');
      }
      resolve();
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    worker?.once('exit', (code, signal) => {
      if (!stopping) {
        logger.error({ code, signal }, 'the embedded worker exited; stopping');
        void stop('worker exited');
      }
    });
  });
  return 0;
}
