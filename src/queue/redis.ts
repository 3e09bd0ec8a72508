/** ioredis connections with the options each role needs. */
import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection for request handling in the API: commands fail at once while Redis is unreachable (no offline
 * queue, one retry) so the API answers 503 quickly instead of hanging, and it keeps reconnecting in the
 * background so it recovers by itself.
 */
export function createApiRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
    ...extra,
  });
}

/** A connection for BullMQ workers and subscribers: blocking commands need `maxRetriesPerRequest: null`. */
export function createWorkerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}

/** True for errors meaning "Redis is unreachable right now" (as opposed to a bug or a bad command). */
export function isRedisUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string };
  return (
    e.name === 'MaxRetriesPerRequestError' ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(
      e.code ?? '',
    ) ||
    /enableOfflineQueue|Connection is closed|Command timed out|Stream isn't writeable|connect ECONNREFUSED|Reached the max retries/i.test(
      e.message,
    )
  );
}
