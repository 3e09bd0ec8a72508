/**
 * Which workers are alive, and on which backend: each worker process keeps a small record in Redis with a TTL and
 * refreshes it on a timer; the API's /readyz and /metrics read the records. A worker that dies stops refreshing and
 * its record expires, so no clean-up is needed for a crash.
 *
 * Keys: `<prefix>:svc:worker:<id>` (the JSON record, with a TTL) and `<prefix>:svc:workers` (a set of ids, an index
 * so readers need no SCAN; ids whose record has expired are pruned by the readers).
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';

/** What a worker reports about itself. */
export interface WorkerInfo {
  id: string;
  /** TF.js backend its jobs compute on: tensorflow, wasm or cpu. */
  backend: string;
  /** What computes, as the engine describes it, e.g. "tensorflow (GPU)". */
  device: string;
  host: string;
  pid: number;
  concurrency: number;
  /** CUDA_VISIBLE_DEVICES (or NVIDIA_VISIBLE_DEVICES) as the worker saw it, when set: which GPU it owns. */
  visibleDevices?: string;
  startedAt: string;
  /** What it runs now (refreshed with each beat and whenever it changes). */
  load?: WorkerLoad;
}

/** Whole jobs (or combinations of pieces) and pieces of split jobs a worker is running. */
export interface WorkerLoad {
  jobs: number;
  pieces: number;
}

export interface HeartbeatOptions {
  /** @defaultValue 10 000 ms */
  intervalMs?: number;
  /** Lifetime of a record that is not refreshed. @defaultValue 30 s (three missed beats) */
  ttlSeconds?: number;
  /** A file whose modification time is renewed after each successful beat (for a container HEALTHCHECK). */
  file?: string;
  /** Called when a beat fails (Redis unreachable); the timer keeps going. */
  onError?: (err: Error) => void;
  /** The worker's current load, written with each beat. */
  load?: () => WorkerLoad;
}

export const HEARTBEAT_INTERVAL_MS = 10_000;
export const HEARTBEAT_TTL_SECONDS = 30;

const recordKey = (prefix: string, id: string): string => `${prefix}:svc:worker:${id}`;
const indexKey = (prefix: string): string => `${prefix}:svc:workers`;

/** A readable id unique per worker process: host, pid and a random suffix (pids repeat across containers). */
export function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Describes this process for the registry. */
export function describeThisWorker(
  backend: { name: string; device: string },
  concurrency: number,
): WorkerInfo {
  const visibleDevices = process.env.CUDA_VISIBLE_DEVICES ?? process.env.NVIDIA_VISIBLE_DEVICES;
  return {
    id: newWorkerId(),
    backend: backend.name,
    device: backend.device,
    host: hostname(),
    pid: process.pid,
    concurrency,
    ...(visibleDevices ? { visibleDevices } : {}),
    startedAt: new Date().toISOString(),
  };
}

/**
 * Registers `info` now and refreshes it every `intervalMs` until `stop()`, which removes it.
 * @throws the Redis error of the first registration, so a worker that cannot reach Redis does not start silently.
 */
export async function startHeartbeat(
  redis: Redis,
  prefix: string,
  info: WorkerInfo,
  opts: HeartbeatOptions = {},
): Promise<{ stop(): Promise<void>; beat(): void }> {
  const intervalMs = opts.intervalMs ?? HEARTBEAT_INTERVAL_MS;
  const ttlSeconds = opts.ttlSeconds ?? HEARTBEAT_TTL_SECONDS;
  let stopped = false;
  const beat = async (): Promise<void> => {
    const value = JSON.stringify(opts.load ? { ...info, load: opts.load() } : info);
    await redis
      .multi()
      .set(recordKey(prefix, info.id), value, 'EX', ttlSeconds)
      .sadd(indexKey(prefix), info.id)
      .exec();
    if (opts.file) await writeFile(opts.file, `${new Date().toISOString()}\n`);
  };
  await beat();
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => beat()).catch((err: Error) => opts.onError?.(err));
  }, intervalMs);
  timer.unref();
  return {
    /** An extra beat now (the load changed), chained after the last one so records never go back in time. */
    beat() {
      if (stopped) return;
      running = running.then(() => beat()).catch((err: Error) => opts.onError?.(err));
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await redis
        .multi()
        .del(recordKey(prefix, info.id))
        .srem(indexKey(prefix), info.id)
        .exec()
        .catch(() => undefined);
    },
  };
}

/** The workers whose record has not expired; prunes expired ids from the index as it goes. */
export async function listWorkers(redis: Redis, prefix: string): Promise<WorkerInfo[]> {
  const ids = await redis.smembers(indexKey(prefix));
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => recordKey(prefix, id)));
  const expired = ids.filter((_, i) => values[i] === null);
  if (expired.length > 0) await redis.srem(indexKey(prefix), ...expired);
  return values
    .filter((v): v is string => v !== null)
    .map((v) => JSON.parse(v) as WorkerInfo)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** Counts workers by backend, e.g. `{ tensorflow: 2, cpu: 1 }`. */
export function countByBackend(workers: readonly WorkerInfo[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const w of workers) counts[w.backend] = (counts[w.backend] ?? 0) + 1;
  return counts;
}
