/**
 * Prometheus metrics through prom-client, in a Registry of this app's own (not prom-client's global one, so tests
 * that build several apps in one process do not collide):
 *
 * - the default Node.js and process metrics, under their standard names (`process_cpu_seconds_total`,
 *   `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`, `nodejs_heap_size_used_bytes`, ...): the names
 *   every Node.js dashboard expects, and Prometheus's `job` and `instance` labels already say which process they
 *   come from (each app built starts a GC observer and an event-loop delay monitor that live as long as the process);
 * - HTTP requests of this API process, observed when each response is sent;
 * - the cross-process figures read from Redis at scrape time (`../metrics/redis-collectors.ts`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { statsKey } from '../../queue/names.js';
import { countByBackend, listWorkers } from '../../queue/worker-registry.js';
import { registerRedisCollectors } from '../metrics/redis-collectors.js';

/** Request duration buckets, in seconds: unchanged from the hand-written exposition (and prom-client's defaults). */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The `route` label of requests no route matched (404s of the not-found handler). */
const UNMATCHED_ROUTE = 'unmatched';

declare module 'fastify' {
  interface FastifyInstance {
    /** Renders the Prometheus text exposition (text/plain; version=0.0.4, prom-client's `Registry.contentType`). */
    renderMetrics(): Promise<string>;
  }
}

/**
 * The `route` label: the pattern the request was routed by (`/v1/jobs/:id`), never the URL itself, so a client
 * cannot create series at will; every unrouted request shares one value.
 */
function routeLabel(request: FastifyRequest): string {
  return request.routeOptions.url ?? UNMATCHED_ROUTE;
}

async function metrics(app: FastifyInstance): Promise<void> {
  const register = new Registry();
  collectDefaultMetrics({ register });

  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests handled by this API process.',
    labelNames,
    registers: [register],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency.',
    labelNames,
    buckets: HTTP_BUCKETS,
    registers: [register],
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: routeLabel(request), status: String(reply.statusCode) };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  registerRedisCollectors(register, async () => {
    const { svc } = app;
    const [queue, stats, workers, piecesQueued] = await Promise.all([
      svc.jobs.counts(),
      svc.redis.hgetall(statsKey(svc.config.queuePrefix)),
      listWorkers(svc.redis, svc.config.queuePrefix),
      svc.jobs.piecesQueued(),
    ]);
    const loads = workers.map((w) => ({
      worker: w.id,
      jobs: w.load?.jobs ?? 0,
      pieces: w.load?.pieces ?? 0,
    }));
    return { queue, stats, workers: countByBackend(workers), loads, piecesQueued };
  });

  app.decorate('renderMetrics', () => register.metrics());
}

export default fp(metrics, { name: 'metrics', dependencies: ['services'] });
