/**
 * The API side of the queue: submits jobs (with Idempotency-Key support), derives a job's public status from its
 * record and its BullMQ state, cancels, lists. Job records live in the metadata store; BullMQ holds execution state.
 */
import { createHash, randomUUID } from 'node:crypto';
import { FlowProducer, Queue, type Job, type JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/env.js';
import type { MetadataStore, Page } from '../storage/metadata-store.js';
import {
  JOB_STATUSES,
  parseFailure,
  type JobData,
  type JobOutcome,
  type JobProgress,
  type JobStatus,
  type JobView,
  type PieceReport,
  type QueuedJob,
} from '../contract/job.js';
import { CALLBACK_QUEUE, callbackStateOf, scheduleCallback, type CallbackSpec } from './callbacks.js';
import { cancelChannel, cancelFlagKey, idempotencyKey, pieceJobId, QUEUE_NAME } from './names.js';

export { JOB_STATUSES, type JobStatus, type JobView };

/** How long an Idempotency-Key is remembered. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
/** A claim younger than this whose record is not written yet belongs to a submission still in progress. */
const IN_FLIGHT_MS = 10_000;
/** Deletes KEYS[1] only if it still holds ARGV[1] (so a stale claim is released, never a fresh one). */
const RELEASE_IF_SAME =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

export interface JobRecord {
  id: string;
  /** The principal (API key digest prefix, or `anonymous`) that submitted it; only it sees the job. */
  owner: string;
  createdAt: string;
  /** Set once BullMQ holds the job; a record without it is repaired (queued) by an idempotent retry. */
  queuedAt?: string;
  /** The job as it runs (the request normalised before queuing): its only copy; BullMQ carries just the id. */
  data: JobData;
  cancelRequestedAt?: string;
  /** Where to POST the final view, and the secret that signs it (never shown). */
  callback?: CallbackSpec;
  /** Set when a queued job was removed before it started. */
  cancelledAt?: string;
}

export class IdempotencyConflictError extends Error {
  constructor(readonly jobId: string) {
    super('this Idempotency-Key was already used with a different request');
  }
}

/** Another request with the same Idempotency-Key is being submitted right now. */
export class IdempotencyInFlightError extends Error {
  constructor() {
    super('a request with this Idempotency-Key is still being submitted; retry in a few seconds');
  }
}

/** The request a job view shows: the job as it runs, with the defaults filled in before queuing. */
function requestOf(data: JobData): Record<string, unknown> {
  const { jobId: _jobId, ...request } = data;
  return request;
}

const iso = (ms: number | undefined): string | null => (ms ? new Date(ms).toISOString() : null);

/** A piece of a split job as the view reads it. */
interface PieceState {
  state: JobState | 'unknown';
  job?: Job<QueuedJob, PieceReport>;
}

/** The BullMQ reason of a parent failed by a piece (failParentOnFailure): `child <prefix>:<queue>:<id> failed`. */
const CHILD_FAILED = /^child (?:.*:)?([^:]+) failed$/;
/** A piece's BullMQ id (`pieceJobId`). */
const PIECE_ID = /-piece-\d+$/;

export class JobProducer {
  readonly queue: Queue<QueuedJob, JobOutcome>;
  /** Callback deliveries (the workers run them); the job view reads their attempts from here. */
  readonly callbacks: Queue<{ jobId: string }>;
  private readonly flows: FlowProducer;

  constructor(
    private readonly redis: Redis,
    private readonly meta: MetadataStore,
    private readonly config: Readonly<Config>,
  ) {
    this.queue = new Queue<QueuedJob, JobOutcome>(QUEUE_NAME, {
      connection: redis,
      prefix: config.queuePrefix,
    });
    this.flows = new FlowProducer({ connection: redis, prefix: config.queuePrefix });
    this.callbacks = new Queue<{ jobId: string }>(CALLBACK_QUEUE, {
      connection: redis,
      prefix: config.queuePrefix,
    });
    // Connection errors surface as 503s on requests; do not let them crash the process as unhandled events.
    this.queue.on('error', () => undefined);
    this.flows.on('error', () => undefined);
    this.callbacks.on('error', () => undefined);
  }

  /**
   * Records and enqueues a job for `owner`. With an Idempotency-Key, a repeat of the same request returns the first
   * job (`created: false`) and a different request under the same key throws {@link IdempotencyConflictError}.
   *
   * Nothing is claimed that is not done: a job record counts as submitted only once BullMQ holds the job
   * (`queuedAt`). When the add fails the record and the key are removed and the error propagates (a 503 the client
   * retries); if even that cleanup fails, the retry with the same key finds the record without `queuedAt` and
   * queues it then (BullMQ ignores a second add of the same job id), so a key never points at a job that never runs.
   */
  async submit(
    data: Omit<JobData, 'jobId'>,
    opts: { owner: string; idempotency?: { key: string }; callback?: CallbackSpec },
  ): Promise<{ record: JobRecord; created: boolean }> {
    const jobId = randomUUID();
    const record: JobRecord = {
      id: jobId,
      owner: opts.owner,
      createdAt: new Date().toISOString(),
      data: { ...data, jobId },
      ...(opts.callback && { callback: opts.callback }),
    };
    if (!opts.idempotency) {
      await this.enqueue(record, undefined);
      return { record, created: true };
    }
    // The request, not how it was resolved: `auto` shards may resolve differently on a retry (workers came or went).
    const { execution, ...request } = data;
    // The callback counts by its URL and a digest of its secret (the secret itself is never stored outside the record).
    const callback = opts.callback && {
      url: opts.callback.url,
      secret: createHash('sha256').update(opts.callback.secret).digest('hex'),
    };
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ ...request, shards: execution?.requested ?? execution?.shards, callback }))
      .digest('hex');
    const hashed = createHash('sha256').update(`${opts.owner}\n${opts.idempotency.key}`).digest('hex');
    const key = idempotencyKey(this.config.queuePrefix, hashed);
    const claim = JSON.stringify({ jobId, fingerprint, at: Date.now() });
    for (let attempt = 0; attempt < 3; attempt++) {
      if ((await this.redis.set(key, claim, 'EX', IDEMPOTENCY_TTL_SECONDS, 'NX')) === 'OK') {
        await this.enqueue(record, key);
        return { record, created: true };
      }
      const raw = await this.redis.get(key);
      if (raw === null) continue; // expired or released in between: claim again
      const prior = JSON.parse(raw) as { jobId?: string; fingerprint?: string; at?: number };
      if (prior.fingerprint !== fingerprint) throw new IdempotencyConflictError(prior.jobId ?? '');
      const existing = prior.jobId ? await this.getRecord(prior.jobId) : null;
      if (existing) {
        if (!existing.queuedAt) await this.enqueue(existing, key);
        return { record: existing, created: false };
      }
      if (Date.now() - (prior.at ?? 0) < IN_FLIGHT_MS) throw new IdempotencyInFlightError();
      // The first submission died before writing its record: release its claim (if still the same) and retry.
      await this.redis.eval(RELEASE_IF_SAME, 1, key, raw);
    }
    throw new IdempotencyInFlightError();
  }

  /** Writes the record, adds the BullMQ job, then marks the record queued; undoes what it can on failure. */
  private async enqueue(record: JobRecord, idempotencyKeyName: string | undefined): Promise<void> {
    try {
      await this.meta.put('jobs', record, 0);
      const queued: QueuedJob = { jobId: record.id, method: record.data.method.name };
      const opts = {
        attempts: this.config.jobAttempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: this.config.resultTtlSeconds },
        removeOnFail: { age: this.config.resultTtlSeconds },
      };
      const shards = record.data.execution?.shards ?? 1;
      const groups = record.data.execution?.dataGroups ?? 1;
      const perGroup = shards / groups;
      if (shards > 1) {
        // A flow: the pieces as children, each retried alone; one that fails for good fails the parent, which
        // BullMQ runs (to combine) only once every piece has succeeded.
        await this.flows.add({
          name: queued.method,
          queueName: QUEUE_NAME,
          data: { ...queued, shards },
          opts: { jobId: record.id, ...opts },
          children: Array.from({ length: shards }, (_, index) => ({
            name: `${queued.method}:piece`,
            queueName: QUEUE_NAME,
            data: {
              ...queued,
              piece: {
                index: index % perGroup,
                count: perGroup,
                ...(groups > 1 && { data: { index: Math.floor(index / perGroup), count: groups } }),
              },
            },
            opts: { jobId: pieceJobId(record.id, index), ...opts, failParentOnFailure: true },
          })),
        });
      } else {
        await this.queue.add(queued.method, queued, { jobId: record.id, ...opts });
      }
      record.queuedAt = new Date().toISOString();
      await this.meta.update('jobs', record);
    } catch (err) {
      if (!record.queuedAt) {
        await this.meta.delete('jobs', record).catch(() => undefined);
        if (idempotencyKeyName) await this.redis.del(idempotencyKeyName).catch(() => undefined);
      }
      throw err;
    }
  }

  async getRecord(id: string): Promise<JobRecord | null> {
    return this.meta.get<JobRecord>('jobs', id);
  }

  /** The record of a job `owner` submitted, or null (unknown, expired, or someone else's). */
  async getOwnedRecord(id: string, owner: string): Promise<JobRecord | null> {
    const record = await this.getRecord(id);
    return record && (record.owner ?? 'anonymous') === owner ? record : null;
  }

  /** The public view of a job of `owner`, or null when unknown, expired or someone else's. */
  async view(id: string, owner: string): Promise<JobView | null> {
    const record = await this.getOwnedRecord(id, owner);
    return record ? this.viewOf(record) : null;
  }

  /** The pieces of a split job, in order (none for a job that runs as one). */
  private async piecesOf(record: JobRecord): Promise<PieceState[]> {
    const shards = record.data.execution?.shards ?? 1;
    if (shards <= 1) return [];
    return Promise.all(
      Array.from({ length: shards }, async (_, index) => {
        const id = pieceJobId(record.id, index);
        const state = await this.queue.getJobState(id);
        const job = (await this.queue.getJob(id)) as Job<QueuedJob, PieceReport> | undefined;
        return { state, job };
      }),
    );
  }

  private async viewOf(record: JobRecord): Promise<JobView> {
    // State first, then the job: a job fetched first could complete before its state is read, leaving a
    // 'completed' state with no return value yet.
    const state: JobState | 'unknown' = await this.queue.getJobState(record.id);
    const job: Job<QueuedJob, JobOutcome> | undefined = await this.queue.getJob(record.id);
    const pieces = await this.piecesOf(record);
    const raw = (job?.progress ?? {}) as Partial<JobProgress>;
    const view: JobView = {
      id: record.id,
      status: 'queued',
      progress: { completed: raw.completed ?? 0, total: raw.total ?? 0, fraction: 0 },
      request: requestOf(record.data),
      createdAt: record.createdAt,
      startedAt: iso(job?.processedOn),
      finishedAt: iso(job?.finishedOn) ?? record.cancelledAt ?? null,
      attempts: job?.attemptsMade ?? 0,
      cancelRequested: record.cancelRequestedAt !== undefined,
    };
    let pieceFraction = 0;
    if (pieces.length > 0) {
      // Progress summed over the pieces; the fraction is their mean (a piece not started yet counts 0).
      const count = { total: pieces.length, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
      let completed = 0;
      let total = 0;
      let started: number | undefined;
      for (const piece of pieces) {
        const p = (piece.job?.progress ?? {}) as Partial<JobProgress>;
        completed += p.completed ?? 0;
        total += p.total ?? 0;
        if (piece.job?.processedOn) started = Math.min(started ?? Infinity, piece.job.processedOn);
        if (piece.state === 'completed') {
          count.succeeded++;
          pieceFraction += 1 / pieces.length;
        } else if (piece.state === 'failed') {
          if (parseFailure(piece.job?.failedReason).code === 'cancelled') count.cancelled++;
          else count.failed++;
        } else if (piece.state === 'unknown') {
          // Removed: by a cancellation before it started, or expired with its parent.
          if (record.cancelRequestedAt) count.cancelled++;
          else count.failed++;
        } else if (piece.state === 'active') {
          count.running++;
          if (p.total) pieceFraction += Math.min(1, (p.completed ?? 0) / p.total) / pieces.length;
        } else count.queued++;
      }
      view.shards = count;
      view.progress.completed = completed;
      view.progress.total = total;
      view.startedAt = iso(started);
    }
    if (record.cancelledAt) {
      view.status = 'cancelled';
      view.error = { code: 'cancelled', message: 'cancelled by request before it started' };
    } else if (state === 'active') {
      view.status = 'running';
    } else if (
      pieces.length > 0 &&
      ['waiting-children', 'waiting', 'prioritized', 'delayed'].includes(state)
    ) {
      // Waiting for its pieces, or (all done) for a worker to combine them.
      view.status = view.startedAt ? 'running' : 'queued';
    } else if (state === 'completed' && job) {
      view.status = 'succeeded';
      const out = job.returnvalue;
      view.result = {
        method: out.method,
        numParams: out.numParams,
        backend: out.backend,
        summary: { ...out.summary, verification: out.verification },
        timings: out.timings,
        artifacts: out.artifacts.map((a) => ({
          ...a,
          href: `/v1/jobs/${record.id}/artifacts/${encodeURIComponent(a.name)}`,
        })),
      };
    } else if (state === 'failed' && job) {
      view.error = parseFailure(job.failedReason);
      // A parent failed by one of its pieces: that piece's error is the job's.
      const child = CHILD_FAILED.exec(job.failedReason ?? '');
      const failedPiece = child && pieces.find((p) => p.job?.id === child[1])?.job;
      if (failedPiece) view.error = parseFailure(failedPiece.failedReason);
      view.status =
        view.error.code === 'cancelled' || (child && record.cancelRequestedAt) ? 'cancelled' : 'failed';
      if (view.status === 'cancelled') view.error = { code: 'cancelled', message: 'cancelled by request' };
    } else if (state === 'unknown' || !job) {
      view.status = 'failed';
      view.error = { code: 'expired', message: 'the job is no longer in the queue (expired or lost)' };
    }
    if (record.callback) {
      view.callback = await callbackStateOf(this.callbacks, record.id, record.callback.url);
    }
    const p = view.progress;
    p.fraction =
      view.status === 'succeeded'
        ? 1
        : pieces.length > 0
          ? Math.min(1, pieceFraction)
          : p.total > 0
            ? Math.min(1, p.completed / p.total)
            : 0;
    return view;
  }

  /**
   * Cancels a job: a queued one is removed at once; a running one is signalled through Redis to the worker holding
   * it, which aborts the engine at its next unit of work. Returns null for an unknown job, and the view plus
   * whether anything was done.
   */
  async cancel(id: string, owner: string): Promise<{ view: JobView; accepted: boolean } | null> {
    const record = await this.getOwnedRecord(id, owner);
    if (!record) return null;
    const before = await this.viewOf(record);
    if (before.status !== 'queued' && before.status !== 'running') return { view: before, accepted: false };
    const prefix = this.config.queuePrefix;
    await this.redis.set(cancelFlagKey(prefix, id), '1', 'EX', 24 * 3600);
    record.cancelRequestedAt = new Date().toISOString();
    await this.meta.update('jobs', record);
    // Pieces not started yet go now (the flag above stops a parent that would then run with pieces missing).
    for (const piece of await this.piecesOf(record)) {
      if (piece.state === 'waiting' || piece.state === 'delayed' || piece.state === 'prioritized') {
        await piece.job?.remove().catch(() => undefined);
      }
    }
    if (before.status === 'queued') {
      const job = await this.queue.getJob(id);
      try {
        await job?.remove();
        record.cancelledAt = new Date().toISOString();
        await this.meta.update('jobs', record);
        await this.meta.expire('jobs', id, this.config.resultTtlSeconds);
        if (record.callback) await scheduleCallback(this.callbacks, this.config, id);
        return { view: await this.viewOf(record), accepted: true };
      } catch {
        // Locked: a worker picked it up in the meantime, so cancel it as a running job.
      }
    }
    await this.redis.publish(cancelChannel(prefix), id);
    return { view: await this.viewOf(record), accepted: true };
  }

  /** The jobs of `owner`, newest first, optionally only those in one status. */
  async list(opts: {
    owner: string;
    cursor?: string;
    limit: number;
    status?: JobStatus;
  }): Promise<Page<JobView>> {
    const views = new Map<string, JobView>();
    const page = await this.meta.list<JobRecord>('jobs', {
      owner: opts.owner,
      cursor: opts.cursor,
      limit: opts.limit,
      accept: async (rec) => {
        const v = await this.viewOf(rec);
        views.set(rec.id, v);
        return !opts.status || v.status === opts.status;
      },
    });
    return { items: page.items.map((r) => views.get(r.id)!), nextCursor: page.nextCursor };
  }

  /** Job counts by BullMQ state (for /metrics). */
  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  }

  /**
   * Pieces of split jobs waiting for a worker: the ids in the waiting, prioritized and delayed sets that name a
   * piece (ids only, no job hashes read).
   */
  async piecesQueued(): Promise<number> {
    const ids = await this.queue.getRanges(['waiting', 'prioritized', 'delayed'], 0, -1);
    return ids.filter((id) => PIECE_ID.test(id)).length;
  }

  async close(): Promise<void> {
    await this.callbacks.close();
    await this.flows.close();
    await this.queue.close();
  }
}
