/**
 * Swagger UI's "Try it out" on POST /v1/jobs, in a real browser (Debian's Chromium through playwright-core) against
 * a real stack: after uploading examples/tiny over HTTP, the documented default example (the dense Hessian) is
 * executed from /docs under its CSP, the UI shows the live 202 with the job's id, and the job then succeeds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { EXAMPLE_UPLOAD_IDS } from '../../src/api/plugins/openapi.js';
import { Client, uploadTiny } from './helpers/client.js';
import { launchChromium, skipWithoutChromium } from './helpers/browser.js';
import { startStack, type Stack } from './helpers/stack.js';

describe('Swagger UI "Try it out" in Chromium', { skip: skipWithoutChromium }, () => {
  let stack: Stack;
  let browser: Browser;
  before(async () => {
    stack = await startStack({ workers: 1 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('submits the default POST /v1/jobs example from /docs (202 and a job id), and the job succeeds', async () => {
    const client = new Client(stack.url);
    const tiny = await uploadTiny(client);
    assert.deepEqual(tiny.statuses, [201, 201], JSON.stringify(tiny.bodies));
    assert.deepEqual({ modelId: tiny.modelId, datasetId: tiny.datasetId }, EXAMPLE_UPLOAD_IDS);

    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' || /Content Security Policy|Refused to/i.test(msg.text()))
        problems.push(msg.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const submitted: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/jobs')
        submitted.push(r.postData() ?? '');
    });

    await page.goto(`${stack.url}/docs`, { waitUntil: 'networkidle' });
    const op = page.locator('.opblock-post', {
      has: page.locator('.opblock-summary-path[data-path="/v1/jobs"]'),
    });
    await op.locator('.opblock-summary').click();
    await op.locator('.try-out__btn').click();
    // The documented examples are offered; the first (the dense Hessian) is the one selected.
    const body = JSON.parse(await op.locator('textarea.body-param__text').inputValue());
    assert.deepEqual(body.method, { name: 'hessian' });
    assert.equal(body.modelId, EXAMPLE_UPLOAD_IDS.modelId);
    await op.locator('.execute').click();
    const status = op.locator('.responses-wrapper .live-responses-table tbody .response-col_status');
    await status.first().waitFor({ timeout: 15_000 });
    assert.equal((await status.first().textContent())?.trim(), '202');
    const shown =
      (await op.locator('.live-responses-table tbody .response-col_description pre').first().textContent()) ??
      '';
    const id = /"id":\s*"([A-Za-z0-9_-]+)"/.exec(shown)?.[1];
    assert.ok(id, `the response shows a job id: ${shown.slice(0, 200)}`);
    assert.equal(submitted.length, 1, 'one request went to POST /v1/jobs');
    assert.deepEqual(JSON.parse(submitted[0]), body);

    const job = await client.waitForJob(id, 30_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result.method, 'hessian');
    assert.deepEqual(problems, []);
    await page.close();
  });
});
