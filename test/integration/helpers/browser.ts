/** Debian's Chromium through playwright-core, as the browser tests launch it, and their skip when it is missing. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** The `skip` option of a browser suite: a reason when Chromium is not installed, else false. */
export const skipWithoutChromium: string | false =
  !existsSync(CHROMIUM) && 'Debian chromium is not installed (.ci/run installs it)';

/** A headless Chromium with no sandbox (containers), no GPU and no background traffic. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
