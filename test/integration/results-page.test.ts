/**
 * The results pages (/jobs, /jobs/{id}) in a real browser (Debian's Chromium through playwright-core) against a real
 * stack (HTTP, Redis, a worker process) with API keys on: the page asks for the key on the first 401, then shows a
 * finished job's state, summary, verification, artifact links and plots drawn from GET /v1/jobs/{id}/preview (the
 * spectral density with its Ritz marks, a dense Hessian's heat map, a diagonal's histograms and per-tensor table),
 * follows a running job's progress live, and lists the jobs; no page logs a console error, a CSP violation or runs
 * a script from a model's (hostile) layer names.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, ConsoleMessage, Page } from 'playwright-core';
import { PAGES_CSP } from '../../src/api/pages/pages.js';
import { GOLDEN_DIR } from '../helpers/golden.js';
import { Client, fileBlob, uploadGolden } from './helpers/client.js';
import { launchChromium, skipWithoutChromium } from './helpers/browser.js';
import { startStack, type Stack } from './helpers/stack.js';

const KEY = 'results-page-test-key';
/** A layer name that runs a script if any page ever writes it as HTML. */
const HOSTILE = '<img src=x onerror=alert(1)>';

/** Watches a page for console errors, CSP violations, uncaught errors and dialogs (an injected alert()). */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) return void problems.push(text);
    if (m.type() !== 'error') return;
    // The browser logs every non-2xx fetch. Two are the pages' protocol, not errors: the 401 that makes the page ask
    // for the key, and the 404 of /v1/jobs/{id}/events while the service has no event stream (the page then polls).
    const url = m.location().url ?? '';
    if (/status of 401/.test(text) && new URL(url, 'http://x').pathname.startsWith('/v1/')) return;
    if (/status of 404/.test(text) && /\/v1\/jobs\/[^/]+\/events$/.test(new URL(url, 'http://x').pathname))
      return;
    problems.push(`${text} (${url})`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return problems;
}

describe('the results pages in Chromium', { skip: skipWithoutChromium }, () => {
  let stack: Stack;
  let browser: Browser;
  let client: Client;
  let mlp: Awaited<ReturnType<typeof uploadGolden>>;
  const jobIds: string[] = [];

  before(async () => {
    stack = await startStack({ workers: 1, env: { API_KEYS: KEY } });
    browser = await launchChromium();
    client = new Client(stack.url, { authorization: `Bearer ${KEY}` });
    mlp = await uploadGolden(client, 'mlp_tanh_mse');
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  /** Runs a job to success on the MLP (or the given uploads) and remembers its id. */
  async function run(method: Record<string, unknown>, uploads: { modelId: string; datasetId: string } = mlp) {
    const job = await client.runJob({
      modelId: uploads.modelId,
      datasetId: uploads.datasetId,
      loss: mlp.loss,
      method,
    });
    jobIds.push(job.id);
    return job;
  }

  /** Opens a page in a new tab (a fresh sessionStorage), giving it the key when it asks. */
  async function open(
    path: string,
    setup?: (page: Page) => Promise<void>,
  ): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage();
    const problems = watch(page);
    await setup?.(page);
    const response = await page.goto(`${stack.url}${path}`);
    assert.equal(response?.status(), 200);
    assert.equal(response?.headers()['content-security-policy'], PAGES_CSP);
    await page.waitForSelector('#key-form:not([hidden])', { timeout: 10_000 });
    await page.fill('#api-key', KEY);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#key-form', { state: 'hidden' });
    return { page, problems };
  }

  const preview = async (id: string) => {
    const r = await client.get(`/v1/jobs/${id}/preview`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  it('(a) shows a finished density job: state, summary, verification, and the curve with its Ritz marks', async () => {
    const job = await run({ name: 'density', probes: 4, steps: 20, gridPoints: 300 });
    const expected = await preview(job.id);
    assert.equal(expected.density.grid.length, 300);
    assert.equal(expected.eigenvalues.source, 'ritz');
    const { page, problems } = await open(`/jobs/${job.id}`);
    await page.waitForSelector('body[data-plots=ready]', { timeout: 15_000 });
    assert.equal(await page.textContent('#status'), 'succeeded');
    assert.equal(await page.getAttribute('#progress', 'aria-valuenow'), '1');
    const curve = page.locator('#density-plot polyline.curve');
    assert.equal(await curve.getAttribute('data-points'), String(expected.density.grid.length));
    const points = ((await curve.getAttribute('points')) ?? '').trim().split(/\s+/);
    assert.equal(points.length, expected.density.grid.length);
    assert.ok(
      points.every((p) => /^-?[\d.]+,-?[\d.]+$/.test(p)),
      'every point is x,y',
    );
    const marks = page.locator('#density-plot line.marker');
    assert.equal(await marks.count(), expected.eigenvalues.values.length);
    assert.equal(Number(await marks.first().getAttribute('data-value')), expected.eigenvalues.values[0]);
    // Summary scalars, verification, artifacts and the request as text.
    const summary = await page.textContent('#summary');
    assert.match(summary ?? '', /sigma/);
    assert.match(summary ?? '', /numParams51/);
    assert.equal(await page.textContent('#verification-verdict'), 'passed');
    assert.ok((await page.locator('#verification tr').count()) >= 2);
    assert.deepEqual(
      await page.locator('a.artifact').allTextContents(),
      job.result.artifacts.map((a: { name: string }) => a.name),
    );
    assert.deepEqual(JSON.parse((await page.textContent('#request')) ?? ''), job.request);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('(b) shows a dense Hessian as a heat map with tensor boundaries, and its artifact links download', async () => {
    const cnn = await uploadGolden(client, 'cnn_two_conv_maxpool');
    const job = await client.runJob({
      modelId: cnn.modelId,
      datasetId: cnn.datasetId,
      loss: cnn.loss,
      method: { name: 'hessian' },
    });
    jobIds.push(job.id);
    const expected = await preview(job.id);
    assert.deepEqual([expected.heatmap.size, expected.heatmap.rows, expected.heatmap.cols], [195, 128, 128]);
    const { page, problems } = await open(`/jobs/${job.id}`);
    await page.waitForSelector('body[data-plots=ready]', { timeout: 15_000 });
    const image = page.locator('#heatmap-plot image.heat');
    assert.equal(await image.getAttribute('data-cells'), String(128 * 128));
    assert.match((await image.getAttribute('href')) ?? '', /^data:image\/png;base64,/);
    // 6 tensors: 5 inner boundaries, one line across and one down each.
    assert.equal(
      await page.locator('#heatmap-plot line.boundary').count(),
      2 * (expected.tensors.length - 1),
    );
    await page.hover('#heatmap-plot rect.hit');
    assert.match((await page.textContent('.readout')) ?? '', /mean =/);

    // The link is the API's href; with a key in the tab, a click fetches it with the key and saves the bytes.
    const link = page.locator('a.artifact', { hasText: 'hessian.npy' });
    const href = (await link.getAttribute('href')) ?? '';
    assert.equal(href, `/v1/jobs/${job.id}/artifacts/hessian.npy`);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'hessian.npy');
    const saved = readFileSync((await download.path())!);
    assert.equal(saved.subarray(0, 6).toString('latin1'), '\x93NUMPY');
    assert.equal(saved.length, job.result.artifacts[0].bytes);
    const fetched = await fetch(`${stack.url}${href}`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.ok(Buffer.from(await fetched.arrayBuffer()).equals(saved), 'the same bytes as the API serves');
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('(c) shows a diagonal as histograms and a per-tensor table, with hostile layer names as text', async () => {
    // The MLP with its second layer renamed to markup: the page must show it, never run it.
    const dir = join(GOLDEN_DIR, 'mlp_tanh_mse');
    const modelJson = readFileSync(join(dir, 'model.json'), 'utf8').replaceAll('"dense_1', `"${HOSTILE}`);
    const form = new FormData();
    form.append('model', new Blob([modelJson]), 'model.json');
    for (const group of JSON.parse(modelJson).weightsManifest)
      for (const p of group.paths) form.append('weights', fileBlob(join(dir, p)), p);
    const model = await client.post('/v1/models', form);
    assert.equal(model.status, 201, JSON.stringify(model.body));
    const job = await run({ name: 'diagonal' }, { modelId: model.body.id, datasetId: mlp.datasetId });
    const expected = await preview(job.id);
    const { page, problems } = await open(`/jobs/${job.id}`);
    await page.waitForSelector('body[data-plots=ready]', { timeout: 15_000 });
    const bars = await page.locator('#histogram-plot rect.bar').count();
    assert.equal(bars, expected.histogram.linear.counts.length + expected.histogram.log10Abs.counts.length);
    const counts = await page
      .locator('#histogram-plot svg')
      .first()
      .locator('rect.bar')
      .evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
    assert.deepEqual(counts, expected.histogram.linear.counts);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      51,
    );
    const rows = page.locator('#per-tensor tr.tensor-row');
    assert.equal(await rows.count(), 4);
    const names = await rows.locator('td:first-child').allTextContents();
    assert.deepEqual(
      names,
      expected.perTensor.map((t: { name: string }) => t.name),
    );
    assert.deepEqual(names.slice(2), [`${HOSTILE}/kernel`, `${HOSTILE}/bias`]);
    assert.equal(await page.locator('#main img').count(), 0, 'no markup from the names');
    assert.deepEqual(problems, []);
    await page.close();
  });

  /**
   * Opens a running job's page and samples its progress bar until it has moved three times; then cancels the job
   * (a long Hutchinson trace: 100000 probes, one unit each) and waits for the page to show it ended. Returns the
   * API requests the page made.
   */
  async function followProgress(
    opts: { noEvents?: boolean } = {},
  ): Promise<{ live: string; requests: string[] }> {
    const submitted = await client.post('/v1/jobs', {
      modelId: mlp.modelId,
      datasetId: mlp.datasetId,
      loss: mlp.loss,
      method: { name: 'trace', estimator: 'hutchinson', probes: 100000 },
      execution: { shards: 1 },
    });
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    jobIds.push(id);
    const requests: string[] = [];
    const { page, problems } = await open(`/jobs/${id}`, async (p) => {
      p.on('request', (r) => {
        const path = new URL(r.url()).pathname;
        if (path.startsWith('/v1/')) requests.push(path);
      });
      // A service without the event stream (as before GET /v1/jobs/{id}/events existed): its 404.
      if (opts.noEvents) {
        await p.route('**/v1/jobs/*/events', (route) =>
          route.fulfill({
            status: 404,
            contentType: 'application/problem+json',
            body: JSON.stringify({ status: 404, code: 'route_not_found', detail: 'no such route' }),
          }),
        );
      }
    });
    const seen: number[] = [];
    const deadline = Date.now() + 30_000;
    let status = '';
    while (Date.now() < deadline) {
      const [value, text] = await page.evaluate(() => [
        (document.getElementById('progress') as HTMLProgressElement).value,
        document.getElementById('status')!.textContent,
      ]);
      status = text ?? '';
      if (status === 'running' && value > 0 && value !== seen.at(-1)) seen.push(value);
      if (seen.length >= 4 || ['succeeded', 'failed', 'cancelled'].includes(status)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const increases = seen.filter((v, i) => i > 0 && v > seen[i - 1]).length;
    assert.ok(
      increases >= 2,
      `the bar moved ${increases} times while running: ${seen.join(', ')} (${status})`,
    );
    const live = (await page.textContent('#live')) ?? '';
    // Cancel it (it would run for a while longer) and see the page follow it to its end.
    await client.delete(`/v1/jobs/${id}`);
    await page.waitForFunction(() => document.getElementById('status')!.textContent === 'cancelled', null, {
      timeout: 15_000,
    });
    assert.match((await page.textContent('#job-error')) ?? '', /cancelled/);
    assert.equal(await page.textContent('#live'), '', 'it stopped following the job');
    assert.deepEqual(problems, []);
    await page.close();
    return { live, requests: requests.filter((r) => r.includes(id)) };
  }

  it('(d) moves the progress bar of a running job live through the event stream', async () => {
    const { live, requests } = await followProgress();
    assert.equal(live, 'live (server-sent events)');
    const id = jobIds.at(-1);
    assert.deepEqual(
      requests.filter((r) => r !== `/v1/jobs/${id}/events`),
      [],
      'no polling: one event stream (or a reconnection) only',
    );
  });

  it('(d2) falls back to polling GET /v1/jobs/{id} every second when there is no event stream', async () => {
    const { live, requests } = await followProgress({ noEvents: true });
    assert.equal(live, 'live (polling every second)');
    const id = jobIds.at(-1);
    assert.equal(requests[0], `/v1/jobs/${id}/events`);
    assert.ok(requests.filter((r) => r === `/v1/jobs/${id}`).length >= 3, requests.join(' '));
  });

  it('(f) lists the jobs with links to their pages, and keeps the key within the tab', async () => {
    const { page, problems } = await open('/jobs');
    await page.waitForSelector('body[data-loaded=true]');
    const hrefs = await page
      .locator('a.job-link')
      .evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    for (const id of jobIds) assert.ok(hrefs.includes(`/jobs/${id}`), `the list links to ${id}`);
    assert.equal(hrefs.length, jobIds.length);
    await page.click(`a.job-link[href="/jobs/${jobIds[0]}"]`);
    await page.waitForSelector('body[data-plots=ready]', { timeout: 15_000 });
    assert.equal(await page.isHidden('#key-form'), true, 'the key was not asked for again');
    assert.equal(await page.textContent('#job-id'), jobIds[0]);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('serves the page shells without a key under their own CSP, and refuses a malformed id', async () => {
    for (const path of ['/jobs', `/jobs/${jobIds[0]}`, '/pages/pages.js', '/pages/pages.css']) {
      const r = await fetch(`${stack.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-security-policy'), PAGES_CSP, path);
      const again = await fetch(`${stack.url}${path}`, {
        headers: { 'if-none-match': r.headers.get('etag')! },
      });
      assert.equal(again.status, 304, path);
    }
    const html = await (await fetch(`${stack.url}/jobs/${jobIds[0]}`)).text();
    assert.ok(!html.includes(jobIds[0]), 'the shell carries no job data');
    assert.equal((await fetch(`${stack.url}/jobs/bad$id`)).status, 400);
    // The API behind it still needs the key, and the preview is 409 until a job succeeded.
    assert.equal((await fetch(`${stack.url}/v1/jobs/${jobIds[0]}/preview`)).status, 401);
    const cancelled = await client.get(`/v1/jobs/${jobIds.at(-1)}/preview`);
    assert.deepEqual([cancelled.status, cancelled.body.code], [409, 'job_not_succeeded']);
    assert.equal((await client.get('/v1/jobs/no-such-job/preview')).status, 404);
  });
});
