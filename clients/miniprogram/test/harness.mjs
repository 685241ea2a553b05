// Real processes for the SDK's tests: `wxlogin simulate` (the WeChat side, and the phone's
// wx.login through its control API) and `wxlogin serve` (SQLite in a temp dir, one worker,
// login rate limits off, the simulator as WeChat), each on a free port of 127.0.0.1.
//
// The payment tests run on `wxlogin dev` instead (`{dev: true}`): the one command that takes
// payments with no setup — a WeChat Pay merchant registered on both sides at start, keys
// made then and never seen here, and the served simulator's callbacks coming back to the
// service over the socket.
//
// The project's Python is .venv/bin/python at the repository root (`make test` creates it);
// WXLOGIN_PYTHON overrides it.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const APPID = 'wx1234567890abcdef';
// The simulator's stand-in for the AppSecret, made up per run: no secret is written down in
// clients/ (tests/test_client_code_secrets.py scans for them).
const simulatorSecret = randomBytes(16).toString('hex');
// A fixed key for the session_key encryption at rest (base64 of 32 bytes); test data only.
const SESSION_KEY_ENCRYPTION_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const START_TIMEOUT_MS = 60_000;

/** @returns {Promise<number>} a port nothing listens on right now (the OS picks it) */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

function python() {
  const path = process.env.WXLOGIN_PYTHON || join(repoRoot, '.venv', 'bin', 'python');
  if (!existsSync(path)) {
    throw new Error(`no Python at ${path}: run \`make test\` (it creates .venv) or set WXLOGIN_PYTHON`);
  }
  return path;
}

/** @type {Set<import('node:child_process').ChildProcess>} the servers still running */
const running = new Set();

// If the test process is stopped (Ctrl-C, the runner's timeout), take the servers with it
// rather than leave them listening.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    process.kill(process.pid, signal);
  });
}

/**
 * @param {string} name
 * @param {string[]} args
 * @param {Record<string, string>} env
 * @param {string} dir
 */
function start(name, args, env, dir) {
  const logPath = join(dir, `${name}.log`);
  const log = openSync(logPath, 'w');
  const child = spawn(python(), ['-m', 'wxlogin.cli', ...args], {
    cwd: dir,
    env,
    stdio: ['ignore', log, log],
  });
  running.add(child);
  /** @type {{code: number | null, signal: string | null} | null} */
  let exited = null;
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      exited = { code, signal };
      resolve(exited);
    });
  });
  return {
    name,
    child,
    exit,
    logPath,
    get exited() {
      return exited;
    },
    log: () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''),
  };
}

/**
 * Poll `url` until it answers 200. A readiness probe, not synchronisation between test steps:
 * the process is starting and there is nothing to await but its port.
 *
 * @param {ReturnType<typeof start>} proc
 * @param {string} url
 */
async function waitReady(proc, url) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exited) {
      throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) before it was ready:\n${proc.log()}`);
    }
    try {
      const response = await fetch(url);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await delay(50);
  }
  throw new Error(`${proc.name} was not ready at ${url} after ${START_TIMEOUT_MS} ms:\n${proc.log()}`);
}

/**
 * @param {ReturnType<typeof start>} proc
 */
async function stop(proc) {
  if (proc.exited) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 20_000);
  await proc.exit;
  clearTimeout(timer);
}

/**
 * A temp directory, two free ports, and the environment of the servers: this process's
 * without any WXLOGIN_* of its own, login rate limits off.
 *
 * @param {string} prefix
 */
async function newPlace(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const [simPort, apiPort] = [await freePort(), await freePort()];
  const baseEnv = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('WXLOGIN_')),
  );
  const env = {
    ...baseEnv,
    PYTHONUNBUFFERED: '1',
    WXLOGIN_LOGIN_RATE_LIMIT_PER_IP: '0',
    WXLOGIN_LOGIN_RATE_LIMIT_PER_APP: '0',
  };
  return { dir, simPort, apiPort, simUrl: `http://127.0.0.1:${simPort}`, apiUrl: `http://127.0.0.1:${apiPort}`, env };
}

/**
 * Wait until the simulator and the service answer (and `setup` has run), stopping every
 * process if one does not; then what the tests use.
 *
 * @param {Awaited<ReturnType<typeof newPlace>>} place
 * @param {ReturnType<typeof start>[]} processes
 * @param {ReturnType<typeof start>} service the one whose log is the service's
 * @param {() => Promise<void>} [setup]
 */
async function whenReady(place, processes, service, setup = async () => {}) {
  try {
    await waitReady(processes[0], `${place.simUrl}/__sim/health`);
    await waitReady(service, `${place.apiUrl}/readyz`);
    await setup();
  } catch (error) {
    await Promise.all(processes.map(stop));
    throw error;
  }
  return {
    simUrl: place.simUrl,
    apiUrl: place.apiUrl,
    appid: APPID,
    dir: place.dir,
    /** The service's log, e.g. to check that no secret reached it. */
    serviceLog: () => service.log(),
    async stop() {
      await Promise.all(processes.map(stop));
      rmSync(place.dir, { recursive: true, force: true });
    },
  };
}

/**
 * Start the simulator and the service. Call `stop()` when done (the `after` hook).
 *
 * @param {{env?: Record<string, string>, templates?: Record<string, Record<string, string>>}} [options]
 *   extra WXLOGIN_* settings for the service; subscribe-message templates to register in the
 *   simulator (template id → {keyword: kind})
 */
export async function startServers(options = {}) {
  const place = await newPlace('wxlogin-sdk-');
  const env = {
    ...place.env,
    WXLOGIN_APPS: `${APPID}:${simulatorSecret}`,
    WXLOGIN_DATA_DIR: join(place.dir, 'data'),
    WXLOGIN_WECHAT_BASE_URL: place.simUrl,
    WXLOGIN_PUBLIC_URL: place.apiUrl,
    WXLOGIN_SESSION_KEY_ENCRYPTION_KEY: SESSION_KEY_ENCRYPTION_KEY,
    ...options.env,
  };
  const simArgs = ['simulate', '--port', String(place.simPort), '--app', `${APPID}:${simulatorSecret}`];
  const simulator = start('simulate', simArgs, env, place.dir);
  const service = start('serve', ['serve', '--port', String(place.apiPort), '--workers', '1'], env, place.dir);
  return whenReady(place, [simulator, service], service, async () => {
    for (const [templateId, fields] of Object.entries(options.templates || {})) {
      await simulatorControl(place.simUrl, '/__sim/templates', { appid: APPID, template_id: templateId, fields });
    }
  });
}

/**
 * Start `wxlogin dev` instead: the simulator and the service in one process, a WeChat Pay
 * merchant wired on both sides. Call `stop()` when done.
 *
 * @param {{env?: Record<string, string>}} [options] extra WXLOGIN_* settings (a service token)
 */
export async function startDevServer(options = {}) {
  const place = await newPlace('wxlogin-sdk-dev-');
  const args = ['dev', '--port', String(place.apiPort), '--sim-port', String(place.simPort)];
  args.push('--data-dir', join(place.dir, 'data'), '--app', `${APPID}:${simulatorSecret}`, '--log-level', 'warning');
  const dev = start('dev', args, { ...place.env, ...options.env }, place.dir);
  return whenReady(place, [dev], dev);
}

/**
 * POST JSON to the simulator's control API.
 *
 * @param {string} simUrl
 * @param {string} path
 * @param {unknown} body
 */
export async function simulatorControl(simUrl, path, body) {
  const response = await fetch(simUrl + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(data)}`);
  return data;
}

/**
 * The simulator's count of wx.login codes minted and traded for this app: a count of logins
 * kept by the other side, independent of the fake wx's own log.
 *
 * @param {string} simUrl
 * @returns {Promise<{issued: number, used: number}>}
 */
export async function simulatorCodes(simUrl) {
  const state = await simulatorControl(simUrl, '/__sim/state', undefined);
  const app = state.apps.find((/** @type {any} */ a) => a.appid === APPID);
  return app.codes;
}
