/** Probes and metrics, outside /v1 (no API key needed, for orchestrators and scrapers). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { countByBackend, listWorkers } from '../../queue/worker-registry.js';
import { REDIS_RETRY_AFTER_SECONDS } from '../plugins/error-handler.js';

const workerSchema = z.object({
  id: z.string(),
  backend: z.string(),
  device: z.string(),
  host: z.string(),
  pid: z.number(),
  concurrency: z.number(),
  visibleDevices: z.string().optional(),
  startedAt: z.string(),
});

const checkSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.record(z.string(), z.string()),
  /** Informational: the API is ready without workers (jobs wait in the queue), so they do not affect `status`. */
  workers: z
    .object({
      alive: z.number().int(),
      byBackend: z.record(z.string(), z.number().int()),
      list: z.array(workerSchema),
    })
    .optional(),
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
        summary: 'Readiness: Redis and storage reachable; workers alive, by backend',
        description:
          'status reflects Redis and storage only: jobs are accepted and queued while no worker runs. ' +
          '`workers` lists the worker processes whose heartbeat is fresh, with the backend and device each computes on.',
        response: { 200: checkSchema, 503: checkSchema },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, string> = {};
      let workers;
      try {
        await app.svc.redis.ping();
        checks.redis = 'ok';
        const list = await listWorkers(app.svc.redis, app.svc.config.queuePrefix);
        workers = { alive: list.length, byBackend: countByBackend(list), list };
      } catch (e) {
        checks.redis ??= `unavailable: ${(e as Error).message}`;
      }
      checks.storage = (await app.svc.store.isWritable())
        ? 'ok'
        : `unavailable: ${app.svc.store.location} is not writable`;
      const ok = Object.values(checks).every((c) => c === 'ok');
      if (!ok) void reply.code(503).header('retry-after', String(REDIS_RETRY_AFTER_SECONDS));
      return {
        status: ok ? ('ok' as const) : ('unavailable' as const),
        checks,
        ...(workers ? { workers } : {}),
      };
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
