/**
 * The API under the hostile-input corpus (issue 7): /healthz latency and peak RSS while every case of
 * `test/integration/helpers/hostile-cases.ts` runs against it, followed by three large legitimate uploads (a 100 MB
 * JSON dataset, a 200 MB .npy dataset, a 250 MB .npz). A benchmark figure, not a test: it prints a markdown table
 * and fails only when the stack cannot start.
 *
 *   node --import tsx bench/hostile-input.bench.ts
 *
 * The API runs as its own process (`node bin/hessian.js serve`: the compiled dist/ as deployed, so run
 * `npm run build` first; no workers, Redis at REDIS_URL with a private key prefix, a temporary DATA_DIR) so its RSS
 * can be read from /proc/<pid>/status: VmHWM is reset before each group (`echo 5 > /proc/<pid>/clear_refs`) and
 * read after it, giving each group's own peak. A worker thread (its own event loop, so the corpus's body building
 * never delays it) requests /healthz every 10 ms over a keep-alive connection and records each latency.
 *
 * Settings: MAX_UPLOAD_BYTES (default 256 MiB, the service's default), REDIS_URL (default redis://127.0.0.1:6379).
 * The API's REQUEST_TIMEOUT_MS is 10 s (instead of 120 s) so the cases whose body never arrives end sooner.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import {
  BOUNDARY,
  buildZip,
  CORPUS_API_KEYS,
  describeOutcome,
  GROUPS,
  hostileCases,
  multipart,
  npyFile,
  npyHeader,
  request,
  runCase,
  uploadFixtures,
  type Outcome,
  type Target,
} from '../test/integration/helpers/hostile-cases.js';
import { deleteKeys } from '../test/integration/helpers/stack.js';

const MiB = 1024 * 1024;
const REPO = resolve(import.meta.dirname, '..');
const MAX_UPLOAD_BYTES = Number(process.env.MAX_UPLOAD_BYTES ?? 256 * MiB);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const API_REQUEST_TIMEOUT_MS = 10_000;
const CASE_TIMEOUT_MS = 60_000;
const HEALTHZ_INTERVAL_MS = 10;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** VmHWM and VmRSS of a process, in bytes. */
function memoryOf(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { hwm: kib('VmHWM'), rss: kib('VmRSS') };
}

/** Resets a process's VmHWM to its current RSS; false where the kernel does not allow it. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The /healthz poller, run in a worker thread: one request every 10 ms, latencies posted back on request. */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const samples = [];
let errors = 0;
let stopping = false;
function once() {
  return new Promise((resolve) => {
    const t = performance.timeOrigin + performance.now();
    const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/healthz', agent, timeout: 60000 }, (res) => {
      res.resume();
      res.on('end', () => { samples.push(t, performance.timeOrigin + performance.now() - t); resolve(); });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => { errors++; samples.push(t, performance.timeOrigin + performance.now() - t); resolve(); });
  });
}
(async () => {
  while (!stopping) {
    const started = performance.now();
    await once();
    const wait = ${HEALTHZ_INTERVAL_MS} - (performance.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  parentPort.postMessage({ samples: Float64Array.from(samples), errors });
})();
parentPort.on('message', () => { stopping = true; });
`;

interface CaseMark {
  name: string;
  start: number;
  end: number;
  rssBefore: number;
  peakRss: number;
  status?: number;
}

interface Window {
  group: string;
  rssAtStart: number;
  start: number;
  end: number;
  cases: number;
  passed: number;
  peakRss: number;
  seconds: number;
}

const now = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Latencies of the /healthz requests in flight during [start, end]. */
function latenciesIn(samples: Float64Array, start: number, end: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < samples.length; i += 2) {
    const t = samples[i];
    const ms = samples[i + 1];
    if (t <= end && t + ms >= start) out.push(ms);
  }
  return out.sort((a, b) => a - b);
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

// ---- the large legitimate uploads ------------------------------------------------------------------------------

/** A float32 .npy of shape [rows, cols], every value `value` (built by repeating the bytes, not element by element). */
function f4Filled(rows: number, cols: number, value: number): Buffer {
  const header = npyHeader('<f4', `(${rows}, ${cols})`);
  const data = Buffer.alloc(rows * cols * 4, Buffer.from(new Float32Array([value]).buffer));
  return npyFile(header, data);
}

/** {"inputs": [[...16 numbers], ...], "targets": [...]} of about `bytes` bytes. */
function jsonDataset(bytes: number): Buffer {
  const row = `[${Array.from({ length: 16 }, (_, i) => (0.1234567 + i / 100).toFixed(7)).join(',')}],`;
  const rows = Math.floor((bytes - 64) / (row.length + 2));
  const inputs = Buffer.alloc(rows * row.length, row);
  const targets = Buffer.alloc(rows * 2, '1,');
  return Buffer.concat([
    Buffer.from('{"inputs":['),
    inputs.subarray(0, inputs.length - 1),
    Buffer.from('],"targets":['),
    targets.subarray(0, targets.length - 1),
    Buffer.from(']}'),
  ]);
}

interface LegitUpload {
  name: string;
  path: string;
  headers: Record<string, string>;
  build: () => Buffer;
}

const MULTIPART_TYPE = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

const LEGIT: LegitUpload[] = [
  {
    name: '100 MB JSON dataset',
    path: '/v1/datasets',
    headers: { 'content-type': 'application/json' },
    build: () => jsonDataset(100 * 1000 * 1000),
  },
  {
    name: '200 MB .npy dataset',
    path: '/v1/datasets',
    headers: MULTIPART_TYPE,
    build: () =>
      multipart([
        { name: 'inputs', filename: 'inputs.npy', body: f4Filled(500_000, 100, 0.25) },
        { name: 'targets', filename: 'targets.npy', body: f4Filled(500_000, 1, 0.5) },
      ]),
  },
  {
    name: '250 MB .npz dataset',
    path: '/v1/datasets',
    headers: MULTIPART_TYPE,
    build: () => {
      const inputs = f4Filled(500_000, 125, 0.75);
      const targets = f4Filled(500_000, 1, 0.5);
      const entry = (name: string, data: Buffer) => ({
        name,
        payload: data,
        method: 0,
        crc: crc32(data),
        size: data.length,
      });
      return multipart([
        {
          name: 'npz',
          filename: 'batch.npz',
          body: buildZip([entry('inputs.npy', inputs), entry('targets.npy', targets)]),
        },
      ]);
    },
  },
];

// ---- main ------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = Date.now();
  const port = await freePort();
  const target: Target = { host: '127.0.0.1', port };
  const dataDir = mkdtempSync(join(tmpdir(), 'hessian-hostile-bench-'));
  const prefix = `bench-${randomBytes(5).toString('hex')}`;
  const api = spawn(process.execPath, [join(REPO, 'bin/hessian.js'), 'serve'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL,
      DATA_DIR: dataDir,
      QUEUE_PREFIX: prefix,
      MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
      MAX_DENSE_PARAMS: '40',
      API_KEYS: CORPUS_API_KEYS.join(','),
      RATE_LIMIT_PER_KEY: '1000000',
      RATE_LIMIT_PER_IP: '1000000',
      REQUEST_TIMEOUT_MS: String(API_REQUEST_TIMEOUT_MS),
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const apiPid = api.pid!;
  let apiExited = false;
  let killed = false;
  api.once('exit', (code, signal) => {
    apiExited = true;
    if (code !== 0 && signal !== 'SIGTERM' && !killed) console.error(`the API exited with ${code ?? signal}`);
  });
  let poller: Worker | undefined;

  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await request(target, 'GET', '/healthz', { timeoutMs: 2000 }).catch(() => undefined);
      if (r?.status === 200) break;
      if (apiExited || Date.now() > deadline) throw new Error('the API did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    const ids = await uploadFixtures(target, CORPUS_API_KEYS[0]);
    const cases = hostileCases({
      apiKey: CORPUS_API_KEYS[0],
      otherApiKey: CORPUS_API_KEYS[1],
      maxUploadBytes: MAX_UPLOAD_BYTES,
      ids,
    });
    const baseline = memoryOf(apiPid);
    const canReset = resetPeak(apiPid);

    poller = new Worker(POLLER, { eval: true, workerData: { port } });
    await new Promise((r) => setTimeout(r, 500));

    const windows: Window[] = [];
    const outcomes: Outcome[] = [];
    let sampledPeak = 0;
    const sampler = setInterval(() => {
      if (!apiExited) sampledPeak = Math.max(sampledPeak, memoryOf(apiPid).rss);
    }, 50);
    /** Per-case windows and peaks (VmHWM reset before each sequential case). */
    const marks: CaseMark[] = [];
    let groupPeak = 0;
    const tracked = async <T>(name: string, fn: () => Promise<T>, statusOf: (r: T) => number | undefined) => {
      const rssBefore = apiExited ? NaN : memoryOf(apiPid).rss;
      resetPeak(apiPid);
      const start = now();
      const result = await fn();
      const end = now();
      const peakRss = apiExited ? NaN : canReset ? memoryOf(apiPid).hwm : memoryOf(apiPid).rss;
      groupPeak = Math.max(groupPeak, peakRss);
      marks.push({ name, start, end, rssBefore, peakRss, status: statusOf(result) });
      return result;
    };
    const measure = async (group: string, count: number, run: () => Promise<number>) => {
      resetPeak(apiPid);
      sampledPeak = 0;
      groupPeak = 0;
      const rssAtStart = apiExited ? NaN : memoryOf(apiPid).rss;
      const start = now();
      const passed = await run();
      const end = now();
      const { hwm, rss } = apiExited ? { hwm: NaN, rss: NaN } : memoryOf(apiPid);
      windows.push({
        group,
        start,
        end,
        cases: count,
        passed,
        rssAtStart,
        peakRss: Math.max(groupPeak, canReset ? hwm : Math.max(sampledPeak, rss)),
        seconds: (end - start) / 1000,
      });
      process.stderr.write(`${group}: ${passed}/${count} in ${((end - start) / 1000).toFixed(1)} s\n`);
    };

    for (const group of GROUPS) {
      const mine = cases.filter((c) => c.group === group);
      await measure(group, mine.length, async () => {
        const opts = { apiKey: CORPUS_API_KEYS[0], timeoutMs: CASE_TIMEOUT_MS };
        const slow = Promise.all(mine.filter((c) => c.slow).map((c) => runCase(target, c, opts)));
        const results: Outcome[] = [];
        for (const c of mine.filter((x) => !x.slow)) {
          results.push(
            await tracked(
              c.name,
              () => runCase(target, c, opts),
              (o) => o.reply?.status,
            ),
          );
        }
        results.push(...(await slow));
        outcomes.push(...results);
        return results.filter((o) => o.failures.length === 0).length;
      });
    }

    const legitResults: string[] = [];
    for (const upload of LEGIT) {
      const body = upload.build();
      await measure(`legit: ${upload.name}`, 1, async () => {
        const t = performance.now();
        const r = await tracked(
          `legit: ${upload.name}`,
          () =>
            request(target, 'POST', upload.path, {
              body,
              headers: upload.headers,
              apiKey: CORPUS_API_KEYS[0],
              timeoutMs: 240_000,
            }).catch((e: Error) => ({ status: 0, json: { detail: e.message } }) as const),
          (x) => x.status,
        );
        const seconds = (performance.now() - t) / 1000;
        legitResults.push(
          `${upload.name} (${mib(body.length)}): ${r.status} in ${seconds.toFixed(1)} s${r.status >= 300 || r.status === 0 ? ` ${JSON.stringify(r.json).slice(0, 300)}` : ''}`,
        );
        return r.status === 201 || r.status === 200 ? 1 : 0;
      });
    }
    clearInterval(sampler);

    poller.postMessage('stop');
    const { samples, errors } = await new Promise<{ samples: Float64Array; errors: number }>((r) =>
      poller!.once('message', r),
    );
    await poller.terminate();
    poller = undefined;

    // ---- report ----
    const rows: string[] = [];
    const ratio = (bytes: number) => `${(bytes / MAX_UPLOAD_BYTES).toFixed(2)}×`;
    rows.push(
      '| group | cases | 4xx problem+json as expected | time (s) | /healthz max (ms) | /healthz p99 (ms) | /healthz samples | API RSS at start | API peak RSS (VmHWM) | peak ÷ MAX_UPLOAD_BYTES |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const w of windows) {
      const lat = latenciesIn(samples, w.start, w.end);
      rows.push(
        `| ${w.group} | ${w.cases} | ${w.group.startsWith('legit') ? (w.passed ? '201 (stored)' : 'FAILED') : `${w.passed}/${w.cases}`} | ${w.seconds.toFixed(1)} | ${Math.max(...lat).toFixed(1)} | ${percentile(lat, 99).toFixed(1)} | ${lat.length} | ${mib(w.rssAtStart)} | ${mib(w.peakRss)} | ${ratio(w.peakRss)} |`,
      );
    }
    const all = latenciesIn(samples, windows[0].start, windows[windows.length - 1].end);
    const corpus = windows.filter((w) => !w.group.startsWith('legit'));
    const peak = Math.max(...windows.map((w) => w.peakRss));
    rows.push(
      `| **total** | ${windows.reduce((n, w) => n + w.cases, 0)} | ${corpus.reduce((n, w) => n + w.passed, 0)}/${corpus.reduce((n, w) => n + w.cases, 0)} corpus | ${windows.reduce((n, w) => n + w.seconds, 0).toFixed(1)} | ${Math.max(...all).toFixed(1)} | ${percentile(all, 99).toFixed(1)} | ${all.length} | ${mib(baseline.rss)} | ${mib(peak)} | ${ratio(peak)} |`,
    );

    const failed = outcomes.filter((o) => o.failures.length > 0);
    console.log(`\n## Hostile input: /healthz latency and API RSS\n`);
    console.log(
      `MAX_UPLOAD_BYTES = ${MAX_UPLOAD_BYTES} (${mib(MAX_UPLOAD_BYTES)}), REQUEST_TIMEOUT_MS = ${API_REQUEST_TIMEOUT_MS}, UPLOAD_THREADS default; ` +
        `API RSS before the corpus ${mib(baseline.rss)}; /healthz every ${HEALTHZ_INTERVAL_MS} ms from a worker thread ` +
        `(${errors} failed requests); peak RSS per group from ${canReset ? 'VmHWM reset before each group' : 'VmRSS sampled every 50 ms (clear_refs not permitted)'}.\n`,
    );
    console.log(rows.join('\n'));
    console.log(`\nLarge legitimate uploads:\n${legitResults.map((l) => `- ${l}`).join('\n')}`);
    if (failed.length > 0) {
      console.log(`\nCases not answered as expected at this limit (${failed.length}):\n`);
      for (const o of failed) console.log(`- ${describeOutcome(o)}`);
    }
    const byLatency = marks
      .map((m) => ({ m, max: Math.max(0, ...latenciesIn(samples, m.start, m.end)) }))
      .sort((a, b) => b.max - a.max)
      .slice(0, 10);
    console.log(
      `\nCases with the slowest /healthz answer while they ran:\n${byLatency.map(({ m, max }) => `- ${m.name}: ${max.toFixed(0)} ms (case took ${(m.end - m.start).toFixed(0)} ms, ${m.status ?? 'no response'})`).join('\n')}`,
    );
    // A process keeps freed memory for reuse, so its RSS carries earlier requests; what one request costs is the
    // growth of the peak over the RSS just before it.
    const growth = (m: (typeof marks)[number]) => m.peakRss - m.rssBefore;
    const byGrowth = [...marks].sort((a, b) => growth(b) - growth(a)).slice(0, 10);
    console.log(
      `\nCases whose request grew the API's RSS most (VmHWM reset before each; growth = peak − RSS before):\n${byGrowth.map((m) => `- ${m.name}: +${mib(growth(m))} (${ratio(growth(m))} the limit; ${mib(m.rssBefore)} → ${mib(m.peakRss)}; ${m.status ?? 'no response'})`).join('\n')}`,
    );
    const slowest = [...outcomes].sort((a, b) => b.ms - a.ms).slice(0, 8);
    console.log(
      `\nSlowest cases:\n${slowest.map((o) => `- ${o.case.name}: ${o.ms.toFixed(0)} ms (${o.reply?.status ?? 'no response'})`).join('\n')}`,
    );
    console.log(`\nTotal bench time ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  } finally {
    if (poller) await poller.terminate();
    if (!apiExited) {
      const exited = new Promise((r) => api.once('exit', r));
      api.kill('SIGTERM');
      // A graceful close waits for open connections; one the API stopped reading can hold it for keepAliveTimeout.
      const timer = setTimeout(() => {
        killed = true;
        console.log('\nThe API did not exit within 10 s of SIGTERM (a connection kept it open); killed it.');
        api.kill('SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    await deleteKeys(REDIS_URL, prefix).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
