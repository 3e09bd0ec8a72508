/** `hessian worker`: one worker process consuming the job queue until SIGTERM / SIGINT. */
import { pino } from 'pino';
import { probeBackend } from '../queue/backend-probe.js';
import { createApiRedis } from '../queue/redis.js';
import { startWorker } from '../queue/worker.js';
import { describeThisWorker, startHeartbeat } from '../queue/worker-registry.js';
import { commandPrologue } from './prologue.js';

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
  const start = commandPrologue('worker', argv, { 'heartbeat-file': { type: 'string' } }, HELP);
  if ('exitCode' in start) return start.exitCode;
  const args = start.values;
  const config = start.config;
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
    file: args['heartbeat-file'] as string | undefined,
    onError: (err) => logger.warn({ err: err.message }, 'worker heartbeat to Redis failed'),
    load: () => running.load(),
  });
  running.onLoad(() => heartbeat.beat());
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
