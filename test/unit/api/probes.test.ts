import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { buildServer } from '../../../src/api/server.js';
import { loadConfig } from '../../../src/config/env.js';
import { DURATION_BUCKETS, QUEUE_NAME, statsKey } from '../../../src/queue/names.js';
import { startHeartbeat } from '../../../src/queue/worker-registry.js';
import { deleteKeys } from '../../integration/helpers/stack.js';
import { buildTestServer } from './helpers.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  /** `# TYPE` of each metric family. */
  types: Map<string, string>;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;

/** Parses the Prometheus text format (0.0.4) strictly: a line that is neither a comment nor a sample fails. */
function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      assert.ok(!types.has(type[1]), `${type[1]} is typed once`);
      types.set(type[1], type[2]);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${line.slice(0, 200)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < m[2].length) {
        const l = LABEL.exec(m[2]);
        assert.ok(l, `bad labels: ${m[2].slice(0, 200)}`);
        labels[l[1]] = l[2].replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    // Go's ParseFloat (Prometheus) reads NaN in any case; prom-client writes "Nan" (an event-loop mean before data).
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]), `bad value in ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  // Every sample belongs to a typed family (histogram series carry a suffix).
  for (const s of samples) {
    const family = [s.name, s.name.replace(/_(bucket|sum|count)$/, '')].find((n) => types.has(n));
    assert.ok(family, `${s.name} has no # TYPE`);
  }
  return { types, samples };
}

/** The samples named `name` whose labels include `labels`. */
function find(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the one sample named `name` with exactly these labels (plus `le` for buckets), 0 when absent. */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = e.samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} appears ${found.length} times`);
  return found[0]?.value ?? 0;
}

/** Checks one histogram series: `le` ascending and ending at +Inf, cumulative counts, +Inf equal to _count. */
function assertHistogram(e: Exposition, name: string, labels: Record<string, string>): number[] {
  const buckets = find(e, `${name}_bucket`, labels).filter(
    (s) => Object.keys(s.labels).length === Object.keys(labels).length + 1,
  );
  assert.ok(buckets.length > 1, `${name} ${JSON.stringify(labels)} has buckets`);
  const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
  assert.equal(les.at(-1), Infinity, 'the last bucket is le="+Inf"');
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(les[i] > les[i - 1], `le ascending: ${les[i - 1]} then ${les[i]}`);
    assert.ok(buckets[i].value >= buckets[i - 1].value, `cumulative at le=${buckets[i].labels.le}`);
  }
  assert.equal(buckets.at(-1)!.value, value(e, `${name}_count`, labels), '+Inf bucket equals _count');
  assert.ok(value(e, `${name}_sum`, labels) >= 0, `${name}_sum is not negative`);
  return buckets.map((b) => b.value);
}

/**
 * A TCP proxy to Redis that can be cut, so an app can lose Redis while it runs (the app gets the proxy's URL).
 */
async function startRedisProxy(): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const target = new URL(REDIS_URL);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const url = new URL(REDIS_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const cut = (): void => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return { url: url.toString(), cut, close: async () => cut() };
}

describe('probes and metrics', () => {
  const prefix = `unit-${randomBytes(5).toString('hex')}`;
  let t: Awaited<ReturnType<typeof buildTestServer>>;
  before(async () => (t = await buildTestServer({ QUEUE_PREFIX: prefix })));
  after(async () => t?.close());

  const scrape = async (server: FastifyInstance = t.server): Promise<Exposition> => {
    const r = await server.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200, r.body.slice(0, 200));
    assert.equal(r.headers['content-type'], Registry.PROMETHEUS_CONTENT_TYPE);
    return parseExposition(r.body);
  };

  it('reports liveness and readiness of Redis and storage', async () => {
    assert.deepEqual((await t.server.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
    const ready = await t.server.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json().checks, { redis: 'ok', storage: 'ok' });
  });

  it('serves Prometheus text 0.0.4 without an API key, with the default process metrics', async () => {
    const e = await scrape();
    assert.equal(e.types.get('process_cpu_seconds_total'), 'counter');
    assert.ok(value(e, 'process_cpu_seconds_total') > 0, 'process_cpu_seconds_total > 0');
    assert.equal(e.types.get('process_resident_memory_bytes'), 'gauge');
    assert.ok(value(e, 'process_resident_memory_bytes') > 1e6, 'process_resident_memory_bytes > 1 MB');
    assert.ok(value(e, 'process_start_time_seconds') > 1.6e9, 'process_start_time_seconds is a Unix time');
    assert.equal(e.types.get('nodejs_eventloop_lag_seconds'), 'gauge');
    assert.equal(e.types.get('nodejs_heap_size_used_bytes'), 'gauge');
    assert.equal(find(e, 'nodejs_version_info').length, 1);
  });

  it('counts HTTP requests by method, route pattern and status, with cumulative latency buckets', async () => {
    const jobs = { method: 'GET', route: '/v1/jobs/:id', status: '404' };
    const health = { method: 'GET', route: '/healthz', status: '200' };
    const before = await scrape();
    for (const id of ['missing', 'also-missing', 'still-missing']) {
      assert.equal((await t.server.inject({ method: 'GET', url: `/v1/jobs/${id}` })).statusCode, 404);
    }
    await t.server.inject({ method: 'GET', url: '/healthz' });
    const e = await scrape();

    assert.equal(e.types.get('http_requests_total'), 'counter');
    assert.equal(e.types.get('http_request_duration_seconds'), 'histogram');
    assert.equal(value(e, 'http_requests_total', jobs) - value(before, 'http_requests_total', jobs), 3);
    assert.equal(value(e, 'http_requests_total', health) - value(before, 'http_requests_total', health), 1);
    const count = (x: Exposition): number => value(x, 'http_request_duration_seconds_count', jobs);
    assert.equal(count(e) - count(before), 3);
    assert.equal(count(e), value(e, 'http_requests_total', jobs));
    const buckets = assertHistogram(e, 'http_request_duration_seconds', jobs);
    assert.equal(buckets.length, 12, '11 bounds from 5 ms to 10 s, and +Inf');
    assert.deepEqual(
      find(e, 'http_request_duration_seconds_bucket', jobs).map((b) => b.labels.le),
      ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'],
    );
    const scrapes = value(e, 'http_requests_total', { method: 'GET', route: '/metrics', status: '200' });
    assert.ok(scrapes >= 1, `the earlier scrape was counted (${scrapes})`);
  });

  it('labels unrouted and hostile URLs with one fixed route value, never the URL', async () => {
    const unmatched = { method: 'GET', route: 'unmatched', status: '404' };
    const before = await scrape();
    const routesBefore = new Set(find(before, 'http_requests_total').map((s) => s.labels.route));
    const long = `/v1/jobs/${'a'.repeat(8192)}`;
    const urls = [long, '/%761/x', '/no-such-route-1', '/no-such-route-2', '/v1/nothing-here'];
    for (const url of urls) {
      const r = await t.server.inject({ method: 'GET', url });
      assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${url.slice(0, 40)}: ${r.statusCode}`);
    }
    const e = await scrape();
    for (const s of e.samples) {
      for (const v of Object.values(s.labels)) {
        assert.ok(v.length < 100, `a label value of ${v.length} characters on ${s.name}`);
        assert.ok(!/aaaa|%76|no-such-route|nothing-here|\/x$/.test(v), `a raw URL in ${s.name}: ${v}`);
      }
    }
    const routesAfter = new Set(find(e, 'http_requests_total').map((s) => s.labels.route));
    assert.deepEqual(
      [...routesAfter].filter((r) => !routesBefore.has(r)).filter((r) => r !== '/metrics'),
      routesBefore.has('unmatched') ? [] : ['unmatched'],
    );
    // The four 404s share the one series (the 8 KB URL is answered 414 before routing, and not counted).
    assert.equal(
      value(e, 'http_requests_total', unmatched) - value(before, 'http_requests_total', unmatched),
      4,
    );
  });

  it('reads queue depth, job outcomes, the job duration histogram and workers from Redis', async () => {
    const empty = await scrape();
    assert.equal(value(empty, 'hessian_redis_up'), 1);
    assert.equal(value(empty, 'hessian_queue_jobs', { state: 'waiting' }), 0);
    assert.equal(value(empty, 'hessian_jobs_total', { outcome: 'succeeded' }), 0);
    assert.equal(value(empty, 'hessian_job_duration_seconds_count'), 0);
    assert.equal(find(empty, 'hessian_job_duration_seconds_bucket').length, DURATION_BUCKETS.length + 1);

    // Written from other connections, as the workers do (src/queue/worker.ts): four finished jobs, one waiting
    // job, and one live cpu worker.
    const redis = new Redis(REDIS_URL);
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix });
    const durations = [0.05, 0.3, 2, 100];
    const fields: Record<string, string | number> = {
      'outcome:succeeded': 3,
      'outcome:failed': 1,
      duration_sum: durations.reduce((a, b) => a + b, 0),
      duration_count: durations.length,
    };
    for (const le of DURATION_BUCKETS)
      fields[`duration_bucket:${le}`] = durations.filter((d) => d <= le).length;
    await redis.hset(statsKey(prefix), fields);
    await queue.add('probe', {});
    const heartbeat = await startHeartbeat(redis, prefix, {
      id: 'probe-worker',
      backend: 'cpu',
      device: 'cpu',
      host: 'test',
      pid: 1,
      concurrency: 1,
      startedAt: new Date().toISOString(),
    });
    try {
      const e = await scrape();
      assert.equal(value(e, 'hessian_redis_up'), 1);
      assert.equal(e.types.get('hessian_queue_jobs'), 'gauge');
      assert.equal(value(e, 'hessian_queue_jobs', { state: 'waiting' }), 1);
      assert.equal(value(e, 'hessian_queue_jobs', { state: 'active' }), 0);
      assert.equal(e.types.get('hessian_jobs_total'), 'counter');
      assert.equal(value(e, 'hessian_jobs_total', { outcome: 'succeeded' }), 3);
      assert.equal(value(e, 'hessian_jobs_total', { outcome: 'failed' }), 1);
      assert.equal(value(e, 'hessian_jobs_total', { outcome: 'cancelled' }), 0);

      assert.equal(e.types.get('hessian_job_duration_seconds'), 'histogram');
      assert.deepEqual(
        assertHistogram(e, 'hessian_job_duration_seconds', {}),
        [1, 2, 2, 3, 3, 3, 4, 4, 4, 4],
      );
      assert.deepEqual(
        find(e, 'hessian_job_duration_seconds_bucket').map((b) => b.labels.le),
        [...DURATION_BUCKETS.map(String), '+Inf'],
      );
      assert.equal(value(e, 'hessian_job_duration_seconds_count'), 4);
      assert.ok(Math.abs(value(e, 'hessian_job_duration_seconds_sum') - 102.35) < 1e-9, 'the duration sum');

      assert.equal(e.types.get('hessian_workers'), 'gauge');
      assert.equal(value(e, 'hessian_workers', { backend: 'cpu' }), 1);
      assert.equal(value(e, 'hessian_workers', { backend: 'tensorflow' }), 0);
      assert.equal(value(e, 'hessian_workers', { backend: 'wasm' }), 0);
    } finally {
      await heartbeat.stop();
      await queue.close();
      redis.disconnect();
    }
  });

  it('still answers 200 when Redis goes away, with hessian_redis_up 0 and no made-up Redis figures', async () => {
    const proxy = await startRedisProxy();
    const dataDir = mkdtempSync(join(tmpdir(), 'hessian-unit-'));
    const config = loadConfig({ REDIS_URL: proxy.url, DATA_DIR: dataDir, QUEUE_PREFIX: `${prefix}-down` });
    const { server, services } = await buildServer(config, { logger: false });
    try {
      await server.ready();
      const up = await scrape(server);
      assert.equal(value(up, 'hessian_redis_up'), 1);
      assert.equal(value(up, 'hessian_jobs_total', { outcome: 'failed' }), 0);

      proxy.cut();
      // Once the app has seen the connection close, its commands fail at once (no offline queue).
      for (const deadline = Date.now() + 5000; services.redis.status === 'ready';) {
        assert.ok(Date.now() < deadline, 'the app noticed that Redis went away');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await server.inject({ method: 'GET', url: '/healthz' });
      const e = await scrape(server);
      assert.equal(value(e, 'hessian_redis_up'), 0);
      for (const name of ['hessian_queue_jobs', 'hessian_jobs_total', 'hessian_workers']) {
        assert.ok(e.types.has(name), `${name} is still described`);
        assert.deepEqual(find(e, name), [], `${name} has no samples`);
      }
      assert.deepEqual(
        e.samples.filter((s) => s.name.startsWith('hessian_job_duration_seconds')),
        [],
        'no job duration series',
      );
      // This process's own metrics are unaffected.
      assert.equal(value(e, 'http_requests_total', { method: 'GET', route: '/healthz', status: '200' }), 1);
      assert.equal(value(e, 'http_requests_total', { method: 'GET', route: '/metrics', status: '200' }), 1);
      assert.ok(value(e, 'process_resident_memory_bytes') > 0, 'process metrics without Redis');
    } finally {
      await server.close();
      await proxy.close();
      await deleteKeys(REDIS_URL, `${prefix}-down`);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('keeps one registry per app: requests to one app are not counted by another', async () => {
    const jobs = { method: 'GET', route: '/v1/jobs/:id', status: '404' };
    await t.server.inject({ method: 'GET', url: '/v1/jobs/missing' });
    const other = await buildTestServer();
    try {
      assert.equal(value(await scrape(other.server), 'http_requests_total', jobs), 0);
      const counted = value(await scrape(), 'http_requests_total', jobs);
      assert.ok(counted >= 1, `counted by its own app (${counted})`);
    } finally {
      await other.close();
    }
  });

  it('serves Swagger UI at /docs', async () => {
    const r = await t.server.inject({ method: 'GET', url: '/docs/' });
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /swagger/i);
  });
});
