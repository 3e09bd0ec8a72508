/** `hessian worker`: one worker process consuming the job queue until SIGTERM / SIGINT. */
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/env.js';
import { startWorker } from '../queue/worker.js';

const HELP = `usage: hessian worker

Runs a job worker: takes jobs from the queue in Redis and computes them in sandboxed child processes.
Configured by environment variables (REDIS_URL, DATA_DIR, WORKER_CONCURRENCY, HESSIAN_BACKEND, JOB_TIMEOUT_MS,
WORKER_LOCK_MS, QUEUE_PREFIX, LOG_LEVEL, ...; see docs/service.md). Stops gracefully on SIGTERM or SIGINT.`;

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  if (argv.length > 0) {
    console.error(`hessian worker: unexpected argument '${argv[0]}'\n\n${HELP}`);
    return 2;
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
  const running = await startWorker(config, logger);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping worker (finishing current jobs)');
      running.close().then(resolve, (err: Error) => {
        logger.error({ err: err.message }, 'error while closing');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
