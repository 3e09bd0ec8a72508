/**
 * The callback deliveries of a worker process: a BullMQ worker on the callback queue that reads a finished job's
 * record (for the URL and secret) and its final view, and POSTs it signed. An attempt that fails with a retryable
 * answer throws (BullMQ retries it with backoff); a final answer, a refused host or a missing record is
 * unrecoverable. Each attempt is logged on the delivery, where the job's view reads it.
 */
import { UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/env.js';
import type { JobView } from '../contract/job.js';
import { MetadataStore } from '../storage/metadata-store.js';
import { CALLBACK_QUEUE, callbackRefusal, postSigned, retryable, type CallbackAttempt } from './callbacks.js';
import { JobProducer, type JobRecord } from './producer.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface CallbackWorker {
  /** The delivery queue (workers schedule deliveries on it). */
  queue: Queue<{ jobId: string }>;
  close(): Promise<void>;
}

/**
 * Starts the deliveries of a worker process: a BullMQ worker on the callback queue that reads the job's record
 * (for the URL and secret) and its final view, and POSTs it. An attempt that fails with a retryable answer throws
 * (BullMQ retries it with backoff), as does a job whose view is not final yet; a final answer or a refused host is
 * unrecoverable.
 */
export async function startCallbackWorker(
  config: Readonly<Config>,
  connection: Redis,
  logger: Logger,
): Promise<CallbackWorker> {
  const meta = new MetadataStore(connection, config.queuePrefix);
  const producer = new JobProducer(connection, meta, config);

  const deliver = async (job: Job<{ jobId: string }>): Promise<void> => {
    const { jobId } = job.data;
    const attempt = job.attemptsMade + 1;
    const record = await meta.get<JobRecord>('jobs', jobId);
    if (!record?.callback) throw new UnrecoverableError(`job ${jobId} has no callback (expired?)`);
    const { url, secret } = record.callback;
    const started = Date.now();
    const log = async (status: number | null, error?: string) => {
      const entry: CallbackAttempt = {
        attempt,
        at: new Date(started).toISOString(),
        status,
        ms: Date.now() - started,
        ...(error && { error }),
      };
      await job.log(JSON.stringify(entry));
    };
    // The allow-list may have changed since the job was submitted: checked again when calling.
    const refusal = callbackRefusal(url, config.callbackAllowedHosts);
    if (refusal) {
      await log(null, refusal);
      throw new UnrecoverableError(refusal);
    }
    const view: JobView | null = await producer.view(jobId, record.owner);
    if (!view || !FINAL.has(view.status)) {
      // Scheduled on a final event the view does not show yet: try again after the backoff.
      await log(null, `the job is ${view?.status ?? 'gone'}, not final yet`);
      throw new Error('job not final yet');
    }
    const body = JSON.stringify(view);
    let status: number;
    try {
      status = await postSigned(
        url,
        secret,
        body,
        { 'hessian-job': jobId, 'hessian-attempt': String(attempt) },
        config.callbackTimeoutMs,
      );
    } catch (err) {
      const reason = err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : describe(err);
      await log(null, reason);
      throw new Error(reason);
    }
    if (status >= 200 && status < 300) {
      await log(status);
      logger.info({ jobId, attempt, status }, 'callback delivered');
      return;
    }
    await log(status, `answered ${status}`);
    if (!retryable(status)) throw new UnrecoverableError(`the receiver answered ${status}`);
    throw new Error(`the receiver answered ${status}`);
  };

  const worker = new Worker<{ jobId: string }>(CALLBACK_QUEUE, deliver, {
    connection,
    prefix: config.queuePrefix,
    concurrency: 8,
    removeOnComplete: { age: config.resultTtlSeconds },
    removeOnFail: { age: config.resultTtlSeconds },
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn(
      { jobId: job.data.jobId, attempt: job.attemptsMade, final, err: err.message },
      'callback failed',
    );
  });
  worker.on('error', (err) => logger.error({ err: err.message }, 'callback worker error'));
  await worker.waitUntilReady();
  return {
    // The producer's delivery queue: the views it builds read the attempts from the same queue.
    queue: producer.callbacks,
    async close() {
      await worker.close();
      await producer.close();
    },
  };
}

/** A network error's most specific message (fetch wraps it as `fetch failed` with a cause). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) return `${err.message}: ${(cause as { code?: string }).code ?? cause.message}`;
  return err.message;
}
