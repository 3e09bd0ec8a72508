/**
 * The cross-process series of /metrics, read from Redis when Prometheus scrapes, so any API replica reports the
 * whole deployment: queue depth by BullMQ state, job outcomes and the job duration histogram (a hash every worker
 * updates, `src/queue/worker.ts`), live workers by backend (`src/queue/worker-registry.ts`), and whether Redis
 * answered.
 *
 * Each series is a prom-client metric whose `collect()` (or, for the histogram, `get()`) awaits one shared read:
 * `Registry.metrics()` asks every metric at once, so a scrape reads Redis once and every series comes from the same
 * moment. When Redis does not answer, the scrape still succeeds: `hessian_redis_up` is 0 and the Redis-backed series
 * are left out (absent rather than zero, so `rate()` sees no counter reset and no alert fires on made-up values).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { DURATION_BUCKETS } from '../../queue/names.js';
import { ExternalHistogram } from './external-histogram.js';

/** What one scrape reads from Redis. */
export interface RedisFigures {
  /** Job counts by BullMQ state. */
  queue: Record<string, number>;
  /** The workers' statistics hash (`statsKey`): `outcome:<outcome>`, `duration_bucket:<le>`, `duration_sum`, `duration_count`. */
  stats: Record<string, string>;
  /** Workers with a fresh heartbeat, by backend. */
  workers: Record<string, number>;
  /** What each live worker runs (from its heartbeat): whole jobs (or combinations) and pieces of split jobs. */
  loads: Array<{ worker: string; jobs: number; pieces: number }>;
  /** Pieces of split jobs waiting for a worker (not started, or waiting to be retried). */
  piecesQueued: number;
}

/** Outcomes always exposed, so a rate over them exists before the first job of each kind. */
export const JOB_OUTCOMES = ['succeeded', 'failed', 'cancelled'] as const;
/** Backends always exposed, so "no tensorflow worker" is a 0 rather than a missing series. */
export const KNOWN_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;

/** A finite number from a Redis field, 0 when absent or garbled (a NaN would poison every sum over it). */
const num = (v: string | number | undefined): number => {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
};

/** Shares one call of `read` among the callers that arrive while it is in flight. */
function sharedInFlight<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= read().finally(() => {
      pending = undefined;
    }));
}

/** Registers the Redis-backed series in `register`; `read` rejects when Redis does not answer. */
export function registerRedisCollectors(register: Registry, read: () => Promise<RedisFigures>): void {
  const figures = sharedInFlight(() => read().catch((): undefined => undefined));

  new Gauge({
    name: 'hessian_redis_up',
    help: 'Whether Redis answered while rendering these metrics.',
    registers: [register],
    async collect() {
      this.set((await figures()) ? 1 : 0);
    },
  });

  new Gauge({
    name: 'hessian_queue_jobs',
    help: 'Jobs in the queue by BullMQ state.',
    labelNames: ['state'],
    registers: [register],
    async collect() {
      const f = await figures();
      this.reset();
      for (const [state, n] of Object.entries(f?.queue ?? {})) this.set({ state }, num(n));
    },
  });

  // A Counter set from outside: reset, then increased by the stored total, so it exposes exactly that total.
  new Counter({
    name: 'hessian_jobs_total',
    help: 'Finished jobs by outcome (all workers).',
    labelNames: ['outcome'],
    registers: [register],
    async collect() {
      const f = await figures();
      this.reset();
      if (!f) return;
      for (const outcome of JOB_OUTCOMES) this.inc({ outcome }, num(f.stats[`outcome:${outcome}`]));
    },
  });

  new ExternalHistogram(
    'hessian_job_duration_seconds',
    'Processing time of finished jobs (all workers).',
    DURATION_BUCKETS,
    async () => {
      const f = await figures();
      if (!f) return undefined;
      return {
        // The workers increment every bucket whose bound is >= the duration, so these are already cumulative.
        cumulative: DURATION_BUCKETS.map((le) => num(f.stats[`duration_bucket:${le}`])),
        sum: num(f.stats.duration_sum),
        count: num(f.stats.duration_count),
      };
    },
  ).registerIn(register);

  new Gauge({
    name: 'hessian_worker_tasks',
    help:
      'What each live worker process runs now, by kind: "job" (a whole job, or the combination of a split ' +
      'job\'s pieces) or "piece" (one piece of a split job). Refreshed whenever it changes.',
    labelNames: ['worker', 'kind'],
    registers: [register],
    async collect() {
      const f = await figures();
      this.reset();
      for (const { worker, jobs, pieces } of f?.loads ?? []) {
        this.set({ worker, kind: 'job' }, num(jobs));
        this.set({ worker, kind: 'piece' }, num(pieces));
      }
    },
  });

  new Gauge({
    name: 'hessian_pieces_queued',
    help: 'Pieces of split jobs waiting for a worker (not started yet, or waiting to be retried).',
    registers: [register],
    async collect() {
      const f = await figures();
      this.reset();
      if (f) this.set(num(f.piecesQueued));
    },
  });

  new Gauge({
    name: 'hessian_workers',
    help: 'Worker processes with a fresh heartbeat, by TF.js backend.',
    labelNames: ['backend'],
    registers: [register],
    async collect() {
      const f = await figures();
      this.reset();
      if (!f) return;
      for (const backend of new Set([...KNOWN_BACKENDS, ...Object.keys(f.workers)])) {
        this.set({ backend }, f.workers[backend] ?? 0);
      }
    },
  });
}
