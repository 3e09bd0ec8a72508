/**
 * Request rate limits, counted in Redis so every API instance shares them (@fastify/rate-limit): per API key for
 * callers with a valid key, per IP for everything else. With API_KEYS set, requests without a valid key get the
 * (smaller) per-IP budget, so a wrong-key flood meets 429 + Retry-After rather than running at full speed. Probes
 * and metrics are not limited (orchestrators poll them).
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { ProblemError } from '../problem.js';
import { bearerToken, type KeyRing } from './auth.js';

export interface RateLimitOptions {
  redis: Redis;
  keyRing: KeyRing;
  /** Requests per minute per valid key (or per IP without API_KEYS); 0 turns limiting off. */
  perKey: number;
  /** Requests per minute per IP without a valid key, when API_KEYS is set; 0 leaves them unlimited. */
  perIp: number;
  /** Redis key prefix (the deployment's QUEUE_PREFIX). */
  prefix: string;
}

const EXEMPT = new Set(['/healthz', '/readyz', '/metrics']);

async function limits(app: FastifyInstance, opts: RateLimitOptions): Promise<void> {
  if (opts.perKey === 0) return;
  const bucketOf = (request: FastifyRequest): string => {
    if (!opts.keyRing.enabled) return `ip:${request.ip}`;
    const principal = opts.keyRing.principalOf(bearerToken(request));
    return principal ? `key:${principal}` : `ip:${request.ip}`;
  };
  await app.register(rateLimit, {
    global: true,
    redis: opts.redis,
    nameSpace: `${opts.prefix}:svc:rate:`,
    // Redis down: serve (the routes answer 503 themselves) rather than fail every request here.
    skipOnError: true,
    timeWindow: 60_000,
    keyGenerator: bucketOf,
    max: (_request, key) =>
      key.startsWith('key:') || !opts.keyRing.enabled ? opts.perKey : opts.perIp || Number.MAX_SAFE_INTEGER,
    allowList: (request) => EXEMPT.has(request.routeOptions.url ?? ''),
    errorResponseBuilder: (request, context) =>
      new ProblemError(
        429,
        'rate_limited',
        `too many requests: at most ${context.max} per minute ${bucketOf(request).startsWith('key:') ? 'per API key' : opts.keyRing.enabled ? 'per client address without a valid API key' : 'per client address'}; retry in ${context.after}`,
        { limit: context.max, retryAfterSeconds: Math.ceil(context.ttl / 1000) },
      ),
  });
}

export default fp(limits, { name: 'rate-limit' });
