/** `hessian worker`: one worker process consuming the job queue until SIGTERM / SIGINT. */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/env.js';
import { probeBackend } from '../queue/backend-probe.js';
import { createApiRedis } from '../queue/redis.js';
import { startWorker } from '../queue/worker.js';
import { describeThisWorker, startHeartbeat } from '../queue/worker-registry.js';

const HELP = `usage: hessian worker [--heartbeat-file PATH]

Runs a job worker: takes jobs from the queue in Redis and computes them in compute child processes it supervises
(one per WORKER_CONCURRENCY slot, reused; a child that dies fails its job as retryable and is replaced).
Configured by environment variables (REDIS_URL, DATA_DIR, WORKER_CONCURRENCY, HESSIAN_BACKEND, JOB_TIMEOUT_MS,
WORKER_LOCK_MS, COMPUTE_START_TIMEOUT_MS, COMPUTE_STOP_GRACE_MS, QUEUE_PREFIX, LOG_LEVEL, ...; see
docs/service.md and docs/operations.md). Stops gracefully on SIGTERM or SIGINT: finishes its jobs, then exits.

At start it checks that HESSIAN_BACKEND loads (an explicit choice that cannot load stops it with exit code 1),
logs the backend and device, and registers itself in Redis so the API's /readyz lists it.

  --heartbeat-file PATH   renew this file's mtime after each heartbeat to Redis (for container health checks)`;

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        'heartbeat-file': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`hessian worker: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`hessian worker: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const logger = pino({ level: config.logLevel, base: { role: 'worker', pid: process.pid } });
  let backend;
  try {
    // Before touching the queue: a worker that would compute on the wrong backend must not take jobs.
    backend = await probeBackend(config.backend);
  } catch (e) {
    console.error(`hessian worker: ${(e as Error).message}`);
    return 1;
  }
  logger.info(
    { backend: backend.name, device: backend.device, requested: config.backend },
    'backend selected',
  );

  const running = await startWorker(config, logger);
  // Queued while (re)connecting, but each beat still gives up after the connection's command timeout.
  const registryRedis = createApiRedis(config.redisUrl, { enableOfflineQueue: true });
  registryRedis.on('error', () => undefined);
  const info = describeThisWorker(backend, config.workerConcurrency);
  const heartbeat = await startHeartbeat(registryRedis, config.queuePrefix, info, {
    file: args['heartbeat-file'],
    onError: (err) => logger.warn({ err: err.message }, 'worker heartbeat to Redis failed'),
  });
  logger.info({ workerId: info.id }, 'worker registered');
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping worker (finishing current jobs)');
      heartbeat
        .stop()
        .then(() => running.close())
        .then(resolve, (err: Error) => {
          logger.error({ err: err.message }, 'error while closing');
          resolve();
        })
        .finally(() => registryRedis.disconnect());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
