/**
 * Push instead of polling, over real HTTP with real Redis and a real worker process: the server-sent events stream
 * (progress, the final state, resuming with Last-Event-ID), the long-polling GET, and signed callbacks (the signature
 * checked by a receiver in the test, retries on a failing receiver, the allow-list's refusals).
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, uploadGolden } from './helpers/client.js';
import { startStack, type Stack } from './helpers/stack.js';

interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/** Reads a text/event-stream until it ends (or `stopAfter` events); returns its events and the response. */
async function readEvents(
  url: string,
  headers: Record<string, string> = {},
  stopAfter = Infinity,
): Promise<{ status: number; type: string | null; events: SseEvent[] }> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: SseEvent[] = [];
  if (!res.ok || !res.body) return { status: res.status, type: res.headers.get('content-type'), events };
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const ev: SseEvent = { event: 'message', data: undefined };
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const [field, ...rest] = line.split(':');
          const value = rest.join(':').replace(/^ /, '');
          if (field === 'id') ev.id = value;
          else if (field === 'event') ev.event = value;
          else if (field === 'data') data += value;
        }
        if (!data) continue;
        ev.data = JSON.parse(data);
        events.push(ev);
        if (events.length >= stopAfter) {
          ac.abort();
          return { status: res.status, type: res.headers.get('content-type'), events };
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  return { status: res.status, type: res.headers.get('content-type'), events };
}

/** A webhook receiver: answers each POST with the next of `answers` (then 200), recording what it got. */
class Receiver {
  readonly calls: Array<{ headers: IncomingMessage['headers']; body: string; path: string }> = [];
  answers: number[] = [];
  private server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.calls.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), path: req.url ?? '' });
      res.statusCode = this.answers.shift() ?? 200;
      res.end('ok');
    });
  });
  port = 0;

  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async waitFor(n: number, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (this.calls.length < n) {
      if (Date.now() > deadline)
        throw new Error(`${this.calls.length} of ${n} callbacks within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close() {
    return new Promise((r) => this.server.close(r));
  }
}

/** What a receiver does with the signature: recompute it over the raw body, compare in constant time. */
function signatureValid(secret: string, body: string, header: string | string[] | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const got = Buffer.from(String(header ?? ''));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const SECRET = 'a-test-secret-of-32-characters!!';

describe('push: events, long polls and callbacks', () => {
  let stack: Stack;
  let client: Client;
  let ids: Awaited<ReturnType<typeof uploadGolden>>;
  const receiver = new Receiver();
  const job = (method: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    modelId: ids.modelId,
    datasetId: ids.datasetId,
    loss: ids.loss,
    method,
    ...extra,
  });

  before(async () => {
    await receiver.start();
    stack = await startStack({
      workers: 1,
      env: {
        CALLBACK_ALLOWED_HOSTS: `127.0.0.1:${receiver.port}`,
        CALLBACK_BACKOFF_MS: '100',
        CALLBACK_ATTEMPTS: '3',
      },
    });
    client = new Client(stack.url);
    ids = await uploadGolden(client, 'mlp_tanh_mse');
  });
  after(async () => {
    await stack?.close();
    await receiver.close();
  });

  it('streams progress events, then the final state, and resumes from Last-Event-ID', async () => {
    // 20 000 probes: a few seconds of work with a progress update per block of probes.
    const submitted = await client.post('/v1/jobs', job({ name: 'diagonal_estimate', probes: 20000 }));
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    const { status, type, events } = await readEvents(`${stack.url}/v1/jobs/${id}/events`);
    assert.equal(status, 200);
    assert.match(type ?? '', /^text\/event-stream/);
    const progress = events.filter((e) => e.event === 'progress');
    assert.ok(progress.length >= 3, `${progress.length} progress events`);
    const completed = progress.map((e) => e.data.progress.completed);
    assert.ok(
      completed.every((c, i) => i === 0 || c >= completed[i - 1]),
      `progress never goes back: ${completed.join(',')}`,
    );
    assert.ok(new Set(completed).size >= 2, 'the progress moved between events');
    const last = events.at(-1)!;
    assert.equal(last.event, 'done');
    assert.equal(last.data.status, 'succeeded');
    assert.equal(last.data.id, id);
    assert.equal(last.data.result.artifacts[0].name, 'diagonal.npy');
    assert.equal(events.filter((e) => e.event === 'done').length, 1);
    // Every event names its state; no two in a row name the same one.
    assert.ok(events.every((e, i) => e.id && (i === 0 || e.id !== events[i - 1].id)));

    // Resuming after the final event: only `done` again (never a stream that hangs).
    const resumed = await readEvents(`${stack.url}/v1/jobs/${id}/events`, { 'last-event-id': last.id! });
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ['done'],
    );
    assert.deepEqual(resumed.events[0].data.result, last.data.result);
  });

  it('sends nothing already seen when resuming a running job', async () => {
    const submitted = await client.post('/v1/jobs', job({ name: 'diagonal_estimate', probes: 20000 }));
    const id = submitted.body.id;
    const first = await readEvents(`${stack.url}/v1/jobs/${id}/events`, {}, 1);
    assert.equal(first.events.length, 1);
    const seen = first.events[0];
    const rest = await readEvents(`${stack.url}/v1/jobs/${id}/events`, { 'last-event-id': seen.id! });
    assert.ok(rest.events.length >= 1);
    assert.ok(
      rest.events.every((e) => e.id !== seen.id),
      'the event already seen is not sent again',
    );
    assert.equal(rest.events.at(-1)!.event, 'done');
  });

  it('refuses a stream of an unknown job with a problem, before streaming', async () => {
    const r = await client.get('/v1/jobs/no-such-job/events');
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'job_not_found');
  });

  it('long-polls: ?wait answers when the job ends, not before', async () => {
    const submitted = await client.post('/v1/jobs', job({ name: 'diagonal_estimate', probes: 10000 }));
    const id = submitted.body.id;
    const started = Date.now();
    const r = await client.get(`/v1/jobs/${id}?wait=30`);
    const waited = Date.now() - started;
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'succeeded');
    assert.equal(r.headers.get('retry-after'), null, 'no Retry-After on a final state');
    assert.ok(waited < 30_000, `answered when the job ended (${waited} ms), not at the deadline`);

    // A wait that runs out answers with the job as it is then.
    const slow = await client.post('/v1/jobs', job({ name: 'diagonal_estimate', probes: 100000 }));
    const t0 = Date.now();
    const partial = await client.get(`/v1/jobs/${slow.body.id}?wait=1`);
    assert.ok(Date.now() - t0 >= 900, 'waited about a second');
    assert.ok(['queued', 'running'].includes(partial.body.status));
    assert.equal(partial.headers.get('retry-after'), '1');
    await client.delete(`/v1/jobs/${slow.body.id}`);
    await client.waitForJob(slow.body.id);

    const tooLong = await client.get(`/v1/jobs/${id}?wait=61`);
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body.detail, /wait is at most 60 seconds/);
  });

  it('calls back once with the final view, signed with the secret', async () => {
    const before = receiver.calls.length;
    const submitted = await client.post(
      '/v1/jobs',
      job(
        { name: 'trace', estimator: 'exact' },
        { callback: { url: `http://127.0.0.1:${receiver.port}/hooks/done?x=1`, secret: SECRET } },
      ),
    );
    assert.equal(submitted.status, 202);
    assert.equal(JSON.stringify(submitted.body).includes(SECRET), false, 'the secret is never shown');
    assert.equal(submitted.body.callback.state, 'pending');
    await receiver.waitFor(before + 1);
    const call = receiver.calls[before];
    assert.equal(call.path, '/hooks/done?x=1');
    assert.equal(call.headers['content-type'], 'application/json');
    assert.ok(signatureValid(SECRET, call.body, call.headers['hessian-signature']), 'signature checks');
    assert.equal(
      signatureValid('another-secret-of-enough-length', call.body, call.headers['hessian-signature']),
      false,
    );
    const view = JSON.parse(call.body);
    assert.equal(view.id, submitted.body.id);
    assert.equal(view.status, 'succeeded');
    assert.equal(typeof view.result.summary.trace, 'number');
    assert.equal(call.headers['hessian-job'], submitted.body.id);

    const after = await client.waitForJob(submitted.body.id, 10_000, (j) => j.callback.state !== 'pending');
    assert.equal(after.callback.state, 'delivered');
    assert.equal(after.callback.attempts.length, 1);
    assert.equal(after.callback.attempts[0].status, 200);
    assert.equal(JSON.stringify(after).includes(SECRET), false);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(receiver.calls.length, before + 1, 'delivered once');
  });

  it('retries a failing receiver with backoff, and gives up after the attempts', async () => {
    // 503, 500, then 200: delivered on the third attempt.
    receiver.answers = [503, 500];
    const before = receiver.calls.length;
    const hook = { url: `http://127.0.0.1:${receiver.port}/retry`, secret: SECRET };
    const ok = await client.post('/v1/jobs', job({ name: 'trace', estimator: 'exact' }, { callback: hook }));
    const done = await client.waitForJob(ok.body.id, 20_000, (j) => j.callback?.state === 'delivered');
    assert.deepEqual(
      done.callback.attempts.map((a: { status: number }) => a.status),
      [503, 500, 200],
    );
    assert.equal(receiver.calls.length, before + 3);
    assert.ok(
      receiver.calls
        .slice(before)
        .every((c) => signatureValid(SECRET, c.body, c.headers['hessian-signature'])),
      'every attempt is signed',
    );
    assert.deepEqual(
      receiver.calls.slice(before).map((c) => c.headers['hessian-attempt']),
      ['1', '2', '3'],
    );
    // The backoff doubles from 100 ms: the third attempt comes at least 300 ms after the first.
    const times = done.callback.attempts.map((a: { at: string }) => Date.parse(a.at));
    assert.ok(
      times[2] - times[0] >= 300,
      `attempts at +0, +${times[1] - times[0]}, +${times[2] - times[0]} ms`,
    );

    // Always 500: failed after CALLBACK_ATTEMPTS=3.
    receiver.answers = [500, 500, 500];
    const bad = await client.post('/v1/jobs', job({ name: 'trace', estimator: 'exact' }, { callback: hook }));
    const failed = await client.waitForJob(bad.body.id, 20_000, (j) => j.callback?.state === 'failed');
    assert.deepEqual(
      failed.callback.attempts.map((a: { status: number }) => a.status),
      [500, 500, 500],
    );
    assert.equal(failed.status, 'succeeded', "the job's own status is unaffected");

    // A final answer (404) is not retried.
    receiver.answers = [404];
    const gone = await client.post(
      '/v1/jobs',
      job({ name: 'trace', estimator: 'exact' }, { callback: hook }),
    );
    const refused = await client.waitForJob(gone.body.id, 20_000, (j) => j.callback?.state === 'failed');
    assert.deepEqual(
      refused.callback.attempts.map((a: { status: number }) => a.status),
      [404],
    );
  });

  it('calls back a job cancelled while queued, and one cancelled while running (a failure in the worker)', async () => {
    const before = receiver.calls.length;
    const hook = { url: `http://127.0.0.1:${receiver.port}/cancelled`, secret: SECRET };
    const running = await client.post(
      '/v1/jobs',
      job({ name: 'diagonal_estimate', probes: 100000 }, { callback: hook }),
    );
    await client.waitForJob(running.body.id, 30_000, (j) => j.progress.completed > 0);
    const queued = await client.post(
      '/v1/jobs',
      job({ name: 'trace', estimator: 'exact' }, { callback: hook }),
    );
    assert.equal((await client.delete(`/v1/jobs/${queued.body.id}`)).status, 200);
    assert.equal((await client.delete(`/v1/jobs/${running.body.id}`)).status, 202);
    await receiver.waitFor(before + 2);
    const got = new Map(
      receiver.calls.slice(before).map((c) => [JSON.parse(c.body).id, JSON.parse(c.body)] as const),
    );
    assert.equal(got.get(queued.body.id)?.status, 'cancelled');
    assert.equal(got.get(running.body.id)?.status, 'cancelled');
    assert.equal(got.get(running.body.id)?.error.code, 'cancelled');
  });

  it('refuses callbacks to hosts off the allow-list, and malformed ones, before queuing', async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [{ url: 'http://example.com/hook', secret: SECRET }, 422, /not on this service's allow-list/],
      [{ url: `http://127.0.0.1:${receiver.port + 1}/x`, secret: SECRET }, 422, /allow-list/],
      [{ url: `http://localhost:${receiver.port}/x`, secret: SECRET }, 422, /allow-list/],
      [{ url: `file:///etc/passwd`, secret: SECRET }, 422, /http or https/],
      [{ url: `http://u:p@127.0.0.1:${receiver.port}/x`, secret: SECRET }, 422, /credentials/],
      [{ url: 'not a url', secret: SECRET }, 422, /not an absolute URL/],
      [{ url: `http://127.0.0.1:${receiver.port}/x`, secret: 'short' }, 400, /at least 16 characters/],
    ];
    for (const [callback, status, message] of cases) {
      const r = await client.post('/v1/jobs', job({ name: 'trace', estimator: 'exact' }, { callback }));
      assert.equal(r.status, status, JSON.stringify(callback));
      assert.match(JSON.stringify(r.body), message);
      if (status === 422) assert.equal(r.body.code, 'callback_not_allowed');
    }
  });
});

describe('callbacks on a service without an allow-list', () => {
  let stack: Stack;
  let client: Client;
  /** A dense Hessian of linear_regression_mse, with `extra` fields. */
  let hessianJob: (extra?: Record<string, unknown>) => Record<string, unknown>;
  before(async () => {
    stack = await startStack({ workers: 0 });
    client = new Client(stack.url);
    const ids = await uploadGolden(client, 'linear_regression_mse');
    hessianJob = (extra = {}) => ({
      modelId: ids.modelId,
      datasetId: ids.datasetId,
      loss: ids.loss,
      method: { name: 'hessian' },
      ...extra,
    });
  });
  after(async () => stack?.close());

  it('refuses every callback by default, saying how to enable them', async () => {
    const r = await client.post(
      '/v1/jobs',
      hessianJob({ callback: { url: 'http://127.0.0.1:9/x', secret: SECRET } }),
    );
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'callback_not_allowed');
    assert.match(r.body.detail, /CALLBACK_ALLOWED_HOSTS/);
    const list = await client.get('/v1/jobs');
    assert.equal(list.body.items.length, 0, 'nothing was queued');
  });

  it('ends open event streams and long polls when the server closes', async () => {
    // No worker: the job stays queued, so the stream and the poll stay open until the server closes.
    const submitted = await client.post('/v1/jobs', hessianJob());
    const stream = readEvents(`${stack.url}/v1/jobs/${submitted.body.id}/events`);
    const poll = client.get(`/v1/jobs/${submitted.body.id}?wait=60`);
    await new Promise((r) => setTimeout(r, 700));
    const started = Date.now();
    await stack.server.close();
    assert.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms`);
    const { events } = await stream;
    assert.deepEqual(
      events.map((e) => [e.event, e.data.status]),
      [['progress', 'queued']],
    );
    assert.equal((await poll).body.status, 'queued');
  });
});
