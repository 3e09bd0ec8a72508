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
import {
  parseFailure,
  type ComputeTask,
  type JobOutcome,
  type PieceReport,
  type QueuedJob,
} from '../contract/job.js';
import type { TaskOutcome } from './child-protocol.js';
import type { JobRecord } from './producer.js';
import { startCallbackWorker } from './callback-worker.js';
import { scheduleCallback } from './callbacks.js';
import { cancelChannel, cancelFlagKey, DURATION_BUCKETS, QUEUE_NAME, statsKey } from './names.js';
import { createWorkerRedis } from './redis.js';
import type { WorkerLoad } from './worker-registry.js';

/**
 * A split job's outcome with how it ran: its pieces' units, dataset groups (examples and weight) and compute
 * seconds (each piece's own, in parallel on as many workers as took them), in `summary.execution`.
 */
function withExecution(outcome: JobOutcome, reports: readonly PieceReport[]): JobOutcome {
  const partials = reports.filter((r) => r.kind === 'partial');
  const groups = partials.find((p) => p.data)?.data?.count;
  return {
    ...outcome,
    summary: {
      ...outcome.summary,
      execution: {
        shards: reports.length,
        ...(partials.length > 0
          ? {
              unit: partials[0].unit,
              units: partials[0].units,
              ...(groups && { dataGroups: groups }),
              pieces: partials.map((p) => ({
                index: p.index,
                start: p.start,
                end: p.end,
                seconds: p.seconds,
                ...(p.data && { datasets: p.data.index, examples: p.data.examples, weight: p.data.weight }),
              })),
            }
          : {
              note: 'This request does not split (its route has no independent units): one piece computed it.',
            }),
      },
    },
  };
}

export interface RunningWorker {
  worker: Worker<QueuedJob, TaskOutcome>;
  /** Jobs and pieces running here now. */
  load(): WorkerLoad;
  /** Calls `listener` whenever the load changes. */
  onLoad(listener: () => void): void;
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
  /** The BullMQ ids of the jobs and pieces running here, by job id (a piece runs under its parent's job id). */
  const active = new Map<string, Set<string>>();
  const load: WorkerLoad = { jobs: 0, pieces: 0 };
  const loadListeners: Array<() => void> = [];
  const track = (job: Job<QueuedJob, TaskOutcome>, delta: 1 | -1): void => {
    const { jobId } = job.data;
    const ids = active.get(jobId) ?? new Set<string>();
    if (delta > 0) ids.add(job.id!);
    else ids.delete(job.id!);
    if (ids.size > 0) active.set(jobId, ids);
    else active.delete(jobId);
    if (job.data.piece) load.pieces += delta;
    else load.jobs += delta;
    for (const listener of loadListeners) listener();
  };

  const processJob = async (
    job: Job<QueuedJob, TaskOutcome>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<TaskOutcome> => {
    // A piece runs under its parent's job id: one record, one cancellation flag, one result directory.
    const { jobId } = job.data;
    // A cancellation published before this worker took the job reached nobody; its flag is still set.
    if ((await connection.exists(cancelFlagKey(config.queuePrefix, jobId))) === 1) {
      throw jobError('cancelled', 'cancelled by request', false);
    }
    // The job itself lives in its record (one copy); BullMQ carries only the id.
    const record = await meta.get<JobRecord>('jobs', jobId);
    if (!record) throw jobError('expired', 'the job record is gone (expired or deleted)', false);
    let task: ComputeTask = { kind: 'whole' };
    let reports: PieceReport[] = [];
    if (job.data.piece) task = { kind: 'piece', piece: job.data.piece };
    else if (job.data.shards) {
      // Every piece succeeded (BullMQ runs a parent only then): combine them, unless the job ran whole in one.
      reports = Object.values(await job.getChildrenValues<PieceReport>()).sort((a, b) => a.index - b.index);
      if (reports.length !== job.data.shards) {
        throw jobError('internal', `${reports.length} of ${job.data.shards} pieces reported`, true);
      }
      const whole = reports.find((r) => r.kind === 'whole');
      if (whole) return withExecution(whole.outcome, reports);
      task = { kind: 'combine', pieces: reports };
    }
    let pending: Promise<unknown> = Promise.resolve();
    track(job, 1);
    try {
      const outcome = await pool.run<TaskOutcome>(job.id!, record.data, {
        signal,
        timeoutMs: config.jobTimeoutMs,
        task,
        // Serialised so an older value never overwrites a newer one.
        onProgress: (p) => (pending = pending.then(() => job.updateProgress(p)).catch(() => undefined)),
      });
      return task.kind === 'combine' ? withExecution(outcome as JobOutcome, reports) : outcome;
    } finally {
      track(job, -1);
      await pending;
    }
  };

  const worker = new Worker<QueuedJob, TaskOutcome>(QUEUE_NAME, processJob, {
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
    // The job, or the pieces of it running here.
    for (const id of active.get(jobId) ?? []) {
      if (worker.cancelJob(id, 'cancelled')) logger.info({ jobId, bullJobId: id }, 'cancelling running job');
    }
  });
  await subscriber.subscribe(cancelChannel(config.queuePrefix));

  const stats = statsKey(config.queuePrefix);
  /** Counts a finished job for /metrics and starts the expiry of its record (its results are swept with it). */
  const record = async (job: Job<QueuedJob, TaskOutcome>, outcome: string): Promise<void> => {
    if (job.data.piece) {
      await connection.hincrby(stats, `pieces:${outcome}`, 1);
      return;
    }
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

  const callbacks = await startCallbackWorker(config, connection, logger);
  /** Schedules the callback of a job that reached a final state, when it asked for one. */
  const notify = async (jobId: string): Promise<void> => {
    const rec = await meta.get<JobRecord>('jobs', jobId);
    if (rec?.callback) await scheduleCallback(callbacks.queue, config, jobId);
  };
  const notifyFailed = (err: unknown) =>
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'could not schedule a callback');

  worker.on('active', (job) => {
    const { method, piece, shards } = job.data;
    logger.info(
      {
        jobId: job.id,
        method,
        attempt: job.attemptsMade + 1,
        ...(piece && { piece }),
        ...(shards && { shards }),
      },
      piece ? 'piece started' : shards ? 'combining pieces' : 'job started',
    );
  });
  worker.on('completed', (job) => {
    logger.info({ jobId: job.id, ms: (job.finishedOn ?? 0) - (job.processedOn ?? 0) }, 'job succeeded');
    void record(job, 'succeeded').catch(() => undefined);
    if (!job.data.piece) void notify(job.data.jobId).catch(notifyFailed);
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const { code } = parseFailure(err.message);
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ jobId: job.id, code, attempt: job.attemptsMade, final, err: err.message }, 'job failed');
    if (final) void record(job, code === 'cancelled' ? 'cancelled' : 'failed').catch(() => undefined);
    // A piece that fails for good fails its parent (failParentOnFailure): the job is final either way.
    if (final) void notify(job.data.jobId).catch(notifyFailed);
    if (final && job.data.piece && code !== 'cancelled') {
      // The parent fails with this piece's error (failParentOnFailure): stop its other pieces too.
      void connection
        .set(cancelFlagKey(config.queuePrefix, job.data.jobId), '1', 'EX', 24 * 3600)
        .then(() => connection.publish(cancelChannel(config.queuePrefix), job.data.jobId))
        .catch(() => undefined);
    }
  });
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));

  await worker.waitUntilReady();
  logger.info(
    { queue: QUEUE_NAME, prefix: config.queuePrefix, concurrency: config.workerConcurrency },
    'worker ready',
  );

  return {
    worker,
    load: () => ({ ...load }),
    onLoad: (listener) => void loadListeners.push(listener),
    async close() {
      await worker.close();
      await callbacks.close();
      await pool.close();
      subscriber.disconnect();
      connection.disconnect();
    },
  };
}
