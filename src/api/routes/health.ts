/** Probes and metrics, outside /v1 (no API key needed, for orchestrators and scrapers). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { REDIS_RETRY_AFTER_SECONDS } from '../plugins/error-handler.js';

const checkSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.string()),
});

const health: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['ops'],
        summary: 'Liveness: the process answers',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['ops'],
        summary: 'Readiness: Redis and storage reachable',
        response: { 200: checkSchema, 503: checkSchema },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      try {
        await app.svc.redis.ping();
        checks.redis = 'ok';
      } catch (e) {
        checks.redis = `unavailable: ${(e as Error).message}`;
      }
      checks.storage = (await app.svc.store.isWritable())
        ? 'ok'
        : `unavailable: ${app.svc.store.root} is not writable`;
      const ok = Object.values(checks).every((c) => c === 'ok');
      if (!ok) void reply.code(503).header('retry-after', String(REDIS_RETRY_AFTER_SECONDS));
      return { status: ok ? ('ok' as const) : ('unavailable' as const), checks };
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['ops'], summary: 'Prometheus metrics', produces: ['text/plain'] } },
    async (_request, reply) => {
      void reply.type('text/plain; version=0.0.4; charset=utf-8');
      return app.renderMetrics();
    },
  );
};

export default health;
