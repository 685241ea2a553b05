// What every test file shares: the real servers, and SDK clients on fake wx / uni objects.

import { randomUUID } from 'node:crypto';
import { after, afterEach, before, test as nodeTest } from 'node:test';

import { createAuth } from '../src/index.mjs';
import { createFakeWx } from './fake-wx.mjs';
import { startDevServer, startServers } from './harness.mjs';

/** @type {ReturnType<typeof createFakeWx>[]} the fakes made by the running test */
const fakes = [];

/** A test that fails after 60 s instead of hanging the run (node 20 has no --test-timeout). */
const TEST_TIMEOUT_MS = 60_000;

/**
 * node:test's test(), with a timeout.
 *
 * @param {string} name
 * @param {(t: import('node:test').TestContext) => unknown} fn
 */
export function test(name, fn) {
  return nodeTest(name, { timeout: TEST_TIMEOUT_MS }, fn);
}

/**
 * Start the servers before the file's tests and stop them after.
 *
 * @param {{env?: Record<string, string>, templates?: Record<string, Record<string, string>>, dev?: boolean}} [options]
 *   dev: one `wxlogin dev` process instead (the payment tests: its merchant is wired for them)
 * @returns {{readonly simUrl: string, readonly apiUrl: string, readonly appid: string, serviceLog(): string}}
 */
export function useServers(options) {
  /** @type {Awaited<ReturnType<typeof startServers>> | null} */
  let servers = null;
  before(async () => {
    servers = options && options.dev ? await startDevServer(options) : await startServers(options);
  });
  after(async () => {
    await servers?.stop();
  });
  afterEach(() => {
    // Every fake wx a test made: the SDK passed wx.request / wx.uploadFile well-typed options.
    const warnings = fakes.splice(0).flatMap((fake) => fake.warnings);
    if (warnings.length) throw new Error(`the SDK sent badly typed parameters:\n${warnings.join('\n')}`);
  });
  const running = () => {
    if (!servers) throw new Error('the servers are not running');
    return servers;
  };
  return {
    get simUrl() {
      return running().simUrl;
    },
    get apiUrl() {
      return running().apiUrl;
    },
    get appid() {
      return running().appid;
    },
    serviceLog: () => running().serviceLog(),
  };
}

/** A clock the test moves by hand: token expiry without sleeping. */
export function manualClock(start = Date.now()) {
  let now = start;
  return {
    now: () => now,
    /** @param {number} ms */
    advance(ms) {
      now += ms;
    },
  };
}

/** A user name no other test uses: tests in one file share the servers. */
export function newUserName(label = 'user') {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/**
 * An SDK instance on a fake wx (or uni) that plays `user`'s phone.
 *
 * @param {ReturnType<typeof useServers>} servers
 * @param {{user?: string, platform?: 'wx' | 'uni', storage?: Map<string, string>, now?: () => number, appid?: string, baseUrl?: string, refreshMargin?: number, payCheckDelays?: number[]}} [options]
 */
export function newClient(servers, options = {}) {
  const user = options.user ?? newUserName();
  const platform = options.platform ?? 'wx';
  const wx = createFakeWx({ simUrl: servers.simUrl, appid: servers.appid, user, platform, storage: options.storage });
  fakes.push(wx);
  const auth = createAuth({
    baseUrl: options.baseUrl ?? servers.apiUrl,
    appid: options.appid,
    platform,
    platformApi: wx,
    now: options.now,
    refreshMargin: options.refreshMargin,
    payCheckDelays: options.payCheckDelays,
  });
  /** @type {any[]} */
  const events = [];
  auth.onChange((event) => events.push(event));
  return { user, wx, auth, events };
}

/**
 * Raw HTTP to the service, outside the SDK (what another device or an attacker would send).
 *
 * @param {string} url
 * @param {{method?: string, token?: string, json?: unknown}} [options]
 */
export async function http(url, { method = 'GET', token, json } = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/**
 * The session the SDK stored, as it sits in the fake storage.
 *
 * @param {Map<string, string>} storage
 */
export function storedSession(storage) {
  const entries = [...storage.entries()];
  if (entries.length !== 1) throw new Error(`expected one stored session, found ${entries.length}`);
  const [key, text] = entries[0];
  return { key, text, value: JSON.parse(text) };
}


/**
 * Poll `check` until it answers true; fail naming `what` after `timeoutMs`. Only for what
 * another process does in its own background and tells nobody about (WeChat Pay's callbacks
 * from the served simulator): the condition is looked at, never a fixed sleep assumed long
 * enough.
 *
 * @param {() => Promise<boolean>} check
 * @param {string} what
 * @param {number} [timeoutMs]
 */
export async function waitUntil(check, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
