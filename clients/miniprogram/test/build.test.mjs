// The CommonJS build WeChat DevTools' "构建 npm" takes: fresh, the same API, and working.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esm from '../src/index.mjs';
import { build } from '../scripts/build-cjs.mjs';
import { createFakeWx } from './fake-wx.mjs';
import { newUserName, test, useServers } from './support.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cjs = require('../miniprogram_dist/index.js');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const servers = useServers();

test('miniprogram_dist/ is exactly what src/ builds to', () => {
  const built = build();
  const onDisk = readdirSync(join(root, 'miniprogram_dist')).filter((f) => f.endsWith('.js')).sort();
  assert.deepEqual(onDisk, [...built.keys()].sort());
  for (const [file, content] of built) {
    assert.equal(readFileSync(join(root, 'miniprogram_dist', file), 'utf8'), content, file);
  }
});

test('package.json points each consumer at the right build', () => {
  assert.equal(pkg.main, 'miniprogram_dist/index.js');
  assert.equal(pkg.miniprogram, 'miniprogram_dist');
  assert.equal(pkg.module, 'src/index.mjs');
  assert.equal(pkg.exports['.'].require, './miniprogram_dist/index.js');
  assert.equal(pkg.exports['.'].import, './src/index.mjs');
  assert.deepEqual(pkg.dependencies ?? {}, {}); // no runtime dependencies
  // The package resolves to the two builds by its own name, as a consumer would load it.
  assert.equal(require('wxlogin-miniprogram'), cjs);
});

test('the CommonJS and ES module builds export the same API', () => {
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.deepEqual(cjs.ErrorKind, esm.ErrorKind);
  for (const name of Object.keys(esm)) assert.equal(typeof cjs[name], typeof esm[name], name);
});

test('the mini-program build uses no syntax newer than the base libraries take', () => {
  for (const file of readdirSync(join(root, 'miniprogram_dist'))) {
    const code = readFileSync(join(root, 'miniprogram_dist', file), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '')
      .replace(/'(?:[^'\\\n]|\\.)*'/g, "''");
    assert.doesNotMatch(code, /\?\.|\?\?/, `${file}: optional chaining / nullish coalescing`);
    assert.doesNotMatch(code, /\bglobalThis\b|\bimport\b|\bexport\b/, `${file}: globalThis / ESM`);
    assert.doesNotMatch(code, /\b(?:fetch|XMLHttpRequest|localStorage|TextEncoder)\b/, `${file}: browser API`);
  }
});

test('the CommonJS build logs in once for concurrent calls and logs out, against the real server', async () => {
  const wx = createFakeWx({ simUrl: servers.simUrl, appid: servers.appid, user: newUserName('cjs') });
  const auth = cjs.createAuth({ baseUrl: servers.apiUrl, platformApi: wx });

  const answers = await Promise.all(Array.from({ length: 5 }, () => auth.request({ url: '/me' })));

  assert.deepEqual(answers.map((/** @type {any} */ a) => a.statusCode), Array(5).fill(200));
  assert.equal(wx.count('/auth/login'), 1);
  await auth.logout();
  assert.equal(wx.count('/auth/logout'), 1);
  const error = await auth.bindPhone({ detail: { errMsg: 'getPhoneNumber:ok', code: 'c' } }).catch((/** @type {any} */ e) => e);
  assert.ok(error instanceof cjs.NotLoggedInError);
});
