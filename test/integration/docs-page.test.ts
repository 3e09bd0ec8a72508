/**
 * Swagger UI under the service's Content-Security-Policy, in a real browser (Debian's Chromium through
 * playwright-core): the page renders the API's document and the browser reports no console errors, in particular no
 * CSP violation, while every other response keeps `default-src 'none'`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, skipWithoutChromium } from './helpers/browser.js';
import { startStack, type Stack } from './helpers/stack.js';

describe('Swagger UI in Chromium', { skip: skipWithoutChromium }, () => {
  let stack: Stack;
  let browser: Browser;
  before(async () => {
    stack = await startStack({ workers: 0 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('renders the API document with no console errors or CSP violations', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy|Refused to/i.test(m.text()))
        problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const response = await page.goto(`${stack.url}/docs`, { waitUntil: 'networkidle' });
    assert.equal(response?.status(), 200);
    await page.waitForSelector('.swagger-ui .info .title', { timeout: 15_000 });
    assert.match((await page.textContent('.swagger-ui .info .title')) ?? '', /Hessian service/);
    assert.ok((await page.locator('.opblock').count()) >= 10, 'the operations are listed');
    assert.deepEqual(problems, []);
    await page.close();
  });
});
