// A real `wxlogin dev` process for the browser test: its own free ports on 127.0.0.1, its own
// temp directory (working directory and --data-dir), its own mini program (a secret made up
// per run, so the test can prove no page or answer ever carries it).
//
// The project's Python is .venv/bin/python at the repository root (`make test` creates it);
// WXLOGIN_PYTHON overrides it.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
// What `wxlogin dev` prints once both servers listen (the /demo line of its banner).
const READY_LINE = /in a browser\s+(http:\/\/127\.0\.0\.1:\d+\/demo)\b/;

export const APPID = 'wx5e1f0c0ffee0b0a7';

/** @returns {Promise<number>} a port nothing listens on right now (the OS picks it) */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
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

/**
 * Start `wxlogin dev`; resolves once its banner names the /demo URL.
 *
 * @returns {Promise<{demoUrl: string, origin: string, simUrl: string, secret: string, log: () => string, stop: () => Promise<{code: number | null, signal: string | null, hung: boolean, log: string}>}>}
 */
export async function startDev() {
  const dir = mkdtempSync(join(tmpdir(), 'wxlogin-browser-'));
  const [port, simPort] = [await freePort(), await freePort()];
  const secret = 'browser-test-' + randomBytes(12).toString('hex');
  const logPath = join(dir, 'dev.log');
  const logFile = createWriteStream(logPath);
  const child = spawn(
    python(),
    [
      '-m', 'wxlogin.cli', 'dev',
      '--port', String(port),
      '--sim-port', String(simPort),
      '--data-dir', join(dir, 'data'),
      '--app', `${APPID}:${secret}:browser-test`,
      '--log-level', 'warning',
    ],
    { cwd: dir, env: { ...process.env, PYTHONUNBUFFERED: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(logFile, { end: false });
  child.stderr.pipe(logFile, { end: false });
  // 'close', not 'exit': by then its output is all in the log.
  const exited = once(child, 'close').then(([code, signal]) => ({ code, signal }));
  const log = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');

  // Ready when the banner line arrives on stdout; failed when the process ends first.
  let printed = '';
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (data) => {
      printed += data.toString('utf8');
      const match = READY_LINE.exec(printed);
      if (match) resolve(match[1]);
    });
    exited.then(({ code, signal }) => reject(new Error(`wxlogin dev exited (${code ?? signal}) before it was ready:\n${printed}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`wxlogin dev was not ready within ${START_TIMEOUT_MS} ms:\n${printed}`)), START_TIMEOUT_MS);
  });
  let demoUrl;
  try {
    demoUrl = /** @type {string} */ (await Promise.race([ready, timeout]));
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }

  return {
    demoUrl,
    origin: new URL(demoUrl).origin,
    simUrl: `http://127.0.0.1:${simPort}`,
    secret,
    log,
    /** Ctrl-C, as a developer stops it; SIGKILL only if it hangs. Its temp dir goes too. */
    async stop() {
      child.kill('SIGINT');
      let timer;
      const hung = new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      });
      const stopped = await Promise.race([exited, hung]);
      clearTimeout(timer);
      if (stopped === null) child.kill('SIGKILL');
      const { code, signal } = await exited;
      await new Promise((resolve) => logFile.end(resolve));
      const text = log();
      rmSync(dir, { recursive: true, force: true });
      return { code, signal, hung: stopped === null, log: text };
    },
  };
}
