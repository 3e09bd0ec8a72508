/**
 * The hostile-input corpus (issue 7) against a real stack over real HTTP: malformed, huge and lying .npy files, npz
 * and zip bombs, deep and huge JSON, multipart oddities, hostile ids and names, encoded paths, lying headers. Every
 * case must be a 4xx application/problem+json (`status` equal to the HTTP status, a `code`, a non-empty `detail`),
 * never a 5xx and never a hang (30 s per request); afterwards DATA_DIR holds no partial files and nothing was stored,
 * the API is still healthy, and the process's RSS stayed bounded.
 *
 * The corpus is in `helpers/hostile-cases.ts` (shared with `bench/hostile-input.bench.ts`, which measures /healthz
 * latency and peak RSS while it runs). Set HOSTILE_CORPUS_REPORT=<file> to write every outcome as JSON.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CORPUS_API_KEYS,
  GROUPS,
  describeOutcome,
  hostileCases,
  request,
  runCase,
  targetOf,
  uploadFixtures,
  type HostileCase,
  type Outcome,
  type Target,
} from './helpers/hostile-cases.js';
import { startStack, type Stack } from './helpers/stack.js';

const MAX_UPLOAD = 256 * 1024;
/** Longest a case may take before it counts as a hang. */
const REQUEST_TIMEOUT_MS = 30_000;
/** The API's own REQUEST_TIMEOUT_MS: bodies that never arrive are cut off after this long. */
const API_REQUEST_TIMEOUT_MS = 5_000;
/** RSS growth allowed over the whole corpus: no case may make the API allocate what a header claims. */
const RSS_GROWTH_BOUND = 384 * 1024 * 1024;
/** How long the server may take to notice that a client closed its connection. */
const SERVER_CLOSE_GRACE_MS = 500;

describe('hostile corpus: every bad input is a 4xx problem+json', () => {
  let stack: Stack;
  let target: Target;
  let cases: HostileCase[];
  const outcomes: Outcome[] = [];
  let rssBaseline = 0;
  let rssPeak = 0;
  let sampler: NodeJS.Timeout | undefined;
  /** The server's side of every open connection, by the client's port. */
  const serverSockets = new Map<number, Socket>();

  /**
   * After the client closed its connection, the server must close its side too: a refused upload whose rest the
   * server stops reading must not pin a socket (and its unread bytes) until keepAliveTimeout. Returns a failure, and
   * destroys the leftover socket so later cases and the stack's close are unaffected.
   */
  async function serverClosed(o: Outcome): Promise<void> {
    if (o.localPort === undefined) return;
    const deadline = performance.now() + SERVER_CLOSE_GRACE_MS;
    while (serverSockets.has(o.localPort) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const socket = serverSockets.get(o.localPort);
    if (socket) {
      o.failures.push(
        `the server kept its side of the connection open ${SERVER_CLOSE_GRACE_MS} ms after the client closed it (${socket.readableLength} bytes buffered, reading ${socket.isPaused() ? 'paused' : 'flowing'})`,
      );
      socket.destroy();
    }
  }

  before(async () => {
    stack = await startStack({
      workers: 0,
      env: {
        MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
        MAX_DENSE_PARAMS: '40',
        API_KEYS: CORPUS_API_KEYS.join(','),
        RATE_LIMIT_PER_KEY: '1000000',
        RATE_LIMIT_PER_IP: '1000000',
        REQUEST_TIMEOUT_MS: String(API_REQUEST_TIMEOUT_MS),
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      },
    });
    target = targetOf(stack.url);
    stack.server.server.on('connection', (socket: Socket) => {
      const port = socket.remotePort!;
      serverSockets.set(port, socket);
      socket.once('close', () => {
        if (serverSockets.get(port) === socket) serverSockets.delete(port);
      });
    });
    const ids = await uploadFixtures(target, CORPUS_API_KEYS[0]);
    cases = hostileCases({
      apiKey: CORPUS_API_KEYS[0],
      otherApiKey: CORPUS_API_KEYS[1],
      maxUploadBytes: MAX_UPLOAD,
      ids,
    });
    rssBaseline = process.memoryUsage.rss();
    rssPeak = rssBaseline;
    sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    }, 20);
  });

  after(async () => {
    if (sampler) clearInterval(sampler);
    if (process.env.HOSTILE_CORPUS_REPORT) {
      const report = outcomes.map((o) => ({
        name: o.case.name,
        group: o.case.group,
        ms: Math.round(o.ms),
        status: o.reply?.status,
        contentType: o.reply?.headers['content-type'],
        code: o.problem?.code,
        detail: typeof o.problem?.detail === 'string' ? o.problem.detail.slice(0, 400) : undefined,
        body: o.problem === undefined ? o.reply?.body.toString('utf8').slice(0, 200) : undefined,
        failures: o.failures,
      }));
      writeFileSync(process.env.HOSTILE_CORPUS_REPORT, JSON.stringify(report, null, 1));
    }
    await stack?.close();
  });

  it('has at least 150 cases, named uniquely, in every group', () => {
    assert.ok(cases.length >= 150, `only ${cases.length} cases`);
    for (const group of GROUPS) {
      assert.ok(
        cases.some((c) => c.group === group),
        `no case in group ${group}`,
      );
    }
  });

  for (const group of GROUPS) {
    it(`${group}: every case is refused with a 4xx problem+json, in time`, async (t) => {
      const mine = cases.filter((c) => c.group === group);
      // Cases that wait on a server timeout run alongside the others instead of after them.
      const run = async (c: HostileCase) => {
        const outcome = await runCase(target, c, {
          apiKey: CORPUS_API_KEYS[0],
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        await serverClosed(outcome);
        return outcome;
      };
      const slow = Promise.all(mine.filter((c) => c.slow).map(run));
      const results: Outcome[] = [];
      for (const c of mine.filter((x) => !x.slow)) results.push(await run(c));
      results.push(...(await slow));
      outcomes.push(...results);
      const failed = results.filter((o) => o.failures.length > 0);
      t.diagnostic(`${mine.length} cases, ${failed.length} failed`);
      assert.equal(
        failed.length,
        0,
        `${failed.length} of ${mine.length} ${group} cases failed:\n${failed.map(describeOutcome).join('\n')}`,
      );
    });
  }

  it('leaves no partial files and stores nothing from the rejected uploads', () => {
    const root = stack.config.dataDir;
    assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'DATA_DIR/tmp is empty');
    assert.deepEqual(readdirSync(root).sort(), ['arrays', 'datasets', 'models', 'results', 'tmp']);
    // Only the fixtures uploaded before the corpus ran.
    assert.equal(readdirSync(join(root, 'models')).length, 1, 'models');
    assert.equal(readdirSync(join(root, 'datasets')).length, 1, 'datasets');
    assert.equal(readdirSync(join(root, 'arrays')).length, 1, 'arrays');
    assert.deepEqual(readdirSync(join(root, 'results')), [], 'results');
  });

  it('is still healthy and serving afterwards, with RSS bounded', async (t) => {
    const health = await request(target, 'GET', '/healthz', { timeoutMs: 5000 });
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });
    const ready = await request(target, 'GET', '/readyz', { timeoutMs: 5000 });
    assert.equal(ready.status, 200, JSON.stringify(ready.json));
    const list = await request(target, 'GET', '/v1/models', { apiKey: CORPUS_API_KEYS[0], timeoutMs: 5000 });
    assert.equal(list.status, 200, JSON.stringify(list.json));
    const growth = rssPeak - rssBaseline;
    t.diagnostic(
      `RSS ${(rssBaseline / 2 ** 20).toFixed(0)} MiB before the corpus, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB`,
    );
    assert.ok(
      growth < RSS_GROWTH_BOUND,
      `RSS grew by ${(growth / 2 ** 20).toFixed(0)} MiB while the corpus ran (bound ${RSS_GROWTH_BOUND / 2 ** 20} MiB)`,
    );
  });
});
