// Debian's chromium, driven by playwright-core. Never a downloaded browser build: playwright-core
// ships none, and `make test` installs the distribution's package (apt-get install chromium).
//
// Without a browser the test cannot run. Under CI (CI=true) that is a failure; elsewhere the
// test is skipped with a message nobody can miss.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox', // the machine runs the test as root, where chromium's sandbox cannot start
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export const underCI = () => /^(1|true|yes)$/i.test(process.env.CI || '');

/**
 * Why the browser test cannot run here, or null when it can.
 *
 * @returns {Promise<string | null>}
 */
export async function missingBrowser() {
  if (!existsSync(CHROMIUM)) {
    return `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; make test does it)`;
  }
  try {
    await import('playwright-core');
  } catch (error) {
    return `playwright-core is not installed in tests/browser (npm ci there; make test does it): ${error}`;
  }
  return null;
}

/** Say loudly that the browser test did not run, in a box nobody scrolls past. */
export function announceSkip(reason) {
  const line = '!'.repeat(78);
  process.stderr.write(`\n${line}\n!! BROWSER TEST SKIPPED: ${reason}\n!! /demo was NOT tested in a browser. (Under CI=true this is a failure.)\n${line}\n\n`);
}

/**
 * A fresh browser with a fresh profile (its own user-data-dir), closed and removed by `close`.
 *
 * @param {{viewport?: {width: number, height: number}}} [options]
 */
export async function launchChromium(options = {}) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'wxlogin-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: options.viewport || { width: 1280, height: 1000 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
