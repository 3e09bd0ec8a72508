/**
 * A worker process: a BullMQ Worker whose in-process processor hands each job to a supervised compute child
 * (`child-pool.ts`: crashes, start-up, timeouts and cancellation are watched from here), plus cancellation requests
 * from the API (pub/sub, and a flag checked when a job starts) and job outcome statistics for /metrics.
 */
import { Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';
import { MetadataStore } from '../storage/metadata-store.js';
import { ChildPool, jobError } from './child-pool.js';
import { parseFailure, type JobOutcome, type QueuedJob } from '../contract/job.js';
import type { JobRecord } from './producer.js';
import { cancelChannel, cancelFlagKey, DURATION_BUCKETS, QUEUE_NAME, statsKey } from './names.js';
import { createWorkerRedis } from './redis.js';

export interface RunningWorker {
  worker: Worker<QueuedJob, JobOutcome>;
  /** Lets the current jobs finish, then stops the compute children and closes every connection. */
  close(): Promise<void>;
}

/** Starts a worker consuming the queue; resolves once it is connected. */
export async function startWorker(config: Readonly<Config>, logger: Logger): Promise<RunningWorker> {
  const connection = createWorkerRedis(config.redisUrl);
  const subscriber = createWorkerRedis(config.redisUrl);
  const pool = new ChildPool({
    size: config.workerConcurrency,
    startTimeoutMs: config.computeStartTimeoutMs,
    stopGraceMs: config.computeStopGraceMs,
    logger,
  });

  const meta = new MetadataStore(connection, config.queuePrefix);
  const processJob = async (
    job: Job<QueuedJob, JobOutcome>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<JobOutcome> => {
    // A cancellation published before this worker took the job reached nobody; its flag is still set.
    if ((await connection.exists(cancelFlagKey(config.queuePrefix, job.id!))) === 1) {
      throw jobError('cancelled', 'cancelled by request', false);
    }
    // The job itself lives in its record (one copy); BullMQ carries only the id.
    const record = await meta.get<JobRecord>('jobs', job.id!);
    if (!record) throw jobError('expired', 'the job record is gone (expired or deleted)', false);
    let pending: Promise<unknown> = Promise.resolve();
    try {
      return await pool.run(job.id!, record.data, {
        signal,
        timeoutMs: config.jobTimeoutMs,
        // Serialised so an older value never overwrites a newer one.
        onProgress: (p) => (pending = pending.then(() => job.updateProgress(p)).catch(() => undefined)),
      });
    } finally {
      await pending;
    }
  };

  const worker = new Worker<QueuedJob, JobOutcome>(QUEUE_NAME, processJob, {
    connection,
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    // Jobs compute in children, so the lock can be short: a dead worker's job is recovered quickly.
    lockDuration: config.workerLockMs,
    stalledInterval: config.workerLockMs,
    maxStalledCount: 2,
    removeOnComplete: { age: config.resultTtlSeconds },
    removeOnFail: { age: config.resultTtlSeconds },
  });

  subscriber.on('message', (_channel: string, jobId: string) => {
    if (worker.cancelJob(jobId, 'cancelled')) logger.info({ jobId }, 'cancelling running job');
  });
  await subscriber.subscribe(cancelChannel(config.queuePrefix));

  const stats = statsKey(config.queuePrefix);
  /** Counts a finished job for /metrics and starts the expiry of its record (its results are swept with it). */
  const record = async (job: Job<QueuedJob, JobOutcome>, outcome: string): Promise<void> => {
    await meta.expire('jobs', job.id!, config.resultTtlSeconds);
    const seconds = job.processedOn && job.finishedOn ? (job.finishedOn - job.processedOn) / 1000 : 0;
    const multi = connection
      .multi()
      .hincrby(stats, `outcome:${outcome}`, 1)
      .hincrbyfloat(stats, 'duration_sum', seconds);
    multi.hincrby(stats, 'duration_count', 1);
    for (const le of DURATION_BUCKETS) if (seconds <= le) multi.hincrby(stats, `duration_bucket:${le}`, 1);
    await multi.exec();
  };

  worker.on('active', (job) => {
    logger.info({ jobId: job.id, method: job.data.method, attempt: job.attemptsMade + 1 }, 'job started');
  });
  worker.on('completed', (job) => {
    logger.info({ jobId: job.id, ms: (job.finishedOn ?? 0) - (job.processedOn ?? 0) }, 'job succeeded');
    void record(job, 'succeeded').catch(() => undefined);
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const { code } = parseFailure(err.message);
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ jobId: job.id, code, attempt: job.attemptsMade, final, err: err.message }, 'job failed');
    if (final) void record(job, code === 'cancelled' ? 'cancelled' : 'failed').catch(() => undefined);
  });
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));

  await worker.waitUntilReady();
  logger.info(
    { queue: QUEUE_NAME, prefix: config.queuePrefix, concurrency: config.workerConcurrency },
    'worker ready',
  );

  return {
    worker,
    async close() {
      await worker.close();
      await pool.close();
      subscriber.disconnect();
      connection.disconnect();
    },
  };
}
