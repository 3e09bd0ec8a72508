/**
 * Prometheus metrics: HTTP requests (counted here, per process), queue depth (from BullMQ) and job outcomes and
 * durations (counted by the workers in Redis, so every worker process contributes).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { DURATION_BUCKETS, statsKey } from '../../queue/names.js';
import { countByBackend, listWorkers } from '../../queue/worker-registry.js';

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface HttpSeries {
  count: number;
  sum: number;
  buckets: number[];
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Renders the Prometheus text exposition. */
    renderMetrics(): Promise<string>;
  }
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

async function metrics(app: FastifyInstance): Promise<void> {
  const series = new Map<string, HttpSeries>();

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `method="${request.method}",route="${esc(route)}",status="${reply.statusCode}"`;
    let s = series.get(key);
    if (!s) series.set(key, (s = { count: 0, sum: 0, buckets: HTTP_BUCKETS.map(() => 0) }));
    const seconds = reply.elapsedTime / 1000;
    s.count += 1;
    s.sum += seconds;
    HTTP_BUCKETS.forEach((le, i) => {
      if (seconds <= le) s.buckets[i] += 1;
    });
  });

  app.decorate('renderMetrics', async () => {
    const out: string[] = [];
    out.push('# HELP http_requests_total HTTP requests handled by this API process.');
    out.push('# TYPE http_requests_total counter');
    for (const [labels, s] of series) out.push(`http_requests_total{${labels}} ${s.count}`);
    out.push('# HELP http_request_duration_seconds HTTP request latency.');
    out.push('# TYPE http_request_duration_seconds histogram');
    for (const [labels, s] of series) {
      HTTP_BUCKETS.forEach((le, i) =>
        out.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${s.buckets[i]}`),
      );
      out.push(`http_request_duration_seconds_bucket{${labels},le="+Inf"} ${s.count}`);
      out.push(`http_request_duration_seconds_sum{${labels}} ${s.sum}`);
      out.push(`http_request_duration_seconds_count{${labels}} ${s.count}`);
    }
    let redisUp = 1;
    try {
      const counts = await app.svc.jobs.counts();
      out.push('# HELP hessian_queue_jobs Jobs in the queue by BullMQ state.');
      out.push('# TYPE hessian_queue_jobs gauge');
      for (const [state, n] of Object.entries(counts)) out.push(`hessian_queue_jobs{state="${state}"} ${n}`);
      const stats = await app.svc.redis.hgetall(statsKey(app.svc.config.queuePrefix));
      out.push('# HELP hessian_jobs_total Finished jobs by outcome (all workers).');
      out.push('# TYPE hessian_jobs_total counter');
      for (const outcome of ['succeeded', 'failed', 'cancelled']) {
        out.push(`hessian_jobs_total{outcome="${outcome}"} ${Number(stats[`outcome:${outcome}`] ?? 0)}`);
      }
      out.push('# HELP hessian_job_duration_seconds Processing time of finished jobs (all workers).');
      out.push('# TYPE hessian_job_duration_seconds histogram');
      for (const le of DURATION_BUCKETS) {
        out.push(
          `hessian_job_duration_seconds_bucket{le="${le}"} ${Number(stats[`duration_bucket:${le}`] ?? 0)}`,
        );
      }
      const count = Number(stats.duration_count ?? 0);
      out.push(`hessian_job_duration_seconds_bucket{le="+Inf"} ${count}`);
      out.push(`hessian_job_duration_seconds_sum ${Number(stats.duration_sum ?? 0)}`);
      out.push(`hessian_job_duration_seconds_count ${count}`);
      const workers = countByBackend(await listWorkers(app.svc.redis, app.svc.config.queuePrefix));
      out.push('# HELP hessian_workers Worker processes with a fresh heartbeat, by TF.js backend.');
      out.push('# TYPE hessian_workers gauge');
      for (const backend of new Set(['tensorflow', 'wasm', 'cpu', ...Object.keys(workers)])) {
        out.push(`hessian_workers{backend="${esc(backend)}"} ${workers[backend] ?? 0}`);
      }
    } catch {
      redisUp = 0;
    }
    out.push('# HELP hessian_redis_up Whether Redis answered while rendering these metrics.');
    out.push('# TYPE hessian_redis_up gauge');
    out.push(`hessian_redis_up ${redisUp}`);
    return `${out.join('\n')}\n`;
  });
}

export default fp(metrics, { name: 'metrics', dependencies: ['services'] });
