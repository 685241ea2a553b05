// examples/miniprogram, run as a mini program runs it: its app.js and page in a context of
// their own where `wx`, `App`, `Page` and `getApp` are globals and require('wxlogin-miniprogram')
// gives the CommonJS build, as DevTools' "构建 npm" would. The page's handlers get the events
// WeChat would send (a real phone code from the simulator, a real image file) and are judged
// by what they put on screen (setData).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';

import { createFakeWx } from './fake-wx.mjs';
import { simulatorControl } from './harness.mjs';
import { tinyPng } from './png.mjs';
import { newUserName, test, useServers } from './support.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const sdkDist = join(here, '..', 'miniprogram_dist');
const example = join(here, '..', '..', '..', 'examples', 'miniprogram', 'miniprogram');
const servers = useServers();

/**
 * Load the example mini program with `wx` as its global.
 *
 * @param {any} wx
 * @param {string} baseUrl
 */
function launch(wx, baseUrl) {
  /** @type {any} */
  let app = null;
  /** @type {any} */
  let pageDefinition = null;
  const context = vm.createContext({
    wx,
    console,
    setTimeout,
    clearTimeout,
    App: (/** @type {any} */ definition) => {
      app = definition;
    },
    Page: (/** @type {any} */ definition) => {
      pageDefinition = definition;
    },
    getApp: () => app,
  });
  /** @type {Map<string, any>} */
  const loaded = new Map();

  /** @param {string} file */
  function load(file) {
    const cached = loaded.get(file);
    if (cached) return cached.exports;
    const module = { exports: {} };
    loaded.set(file, module);
    const source = readFileSync(file, 'utf8');
    const wrapper = vm.runInContext(`(function (require, module, exports) {${source}\n})`, context, { filename: file });
    wrapper(requireFrom(dirname(file)), module, module.exports);
    return module.exports;
  }

  /** @param {string} dir */
  function requireFrom(dir) {
    return (/** @type {string} */ id) => {
      if (id === 'wxlogin-miniprogram') return load(join(sdkDist, 'index.js'));
      if (id === './config' && dir === example) return { baseUrl };
      if (id.startsWith('./')) return load(resolve(dir, id.endsWith('.js') ? id : `${id}.js`));
      throw new Error(`the example requires ${id}, which a mini program would not have`);
    };
  }

  load(join(example, 'app.js'));
  app.onLaunch();
  load(join(example, 'pages', 'index', 'index.js'));
  return { app, page: instantiate(pageDefinition) };
}

/**
 * A page instance: `data`, a `setData` that merges, and `until(check)` to await the screen.
 *
 * @param {any} definition
 */
function instantiate(definition) {
  /** @type {{check: (data: any) => boolean, resolve: () => void}[]} */
  const waiters = [];
  const page = {
    ...definition,
    data: structuredClone(definition.data),
    /** @param {Record<string, any>} patch */
    setData(patch) {
      page.data = { ...page.data, ...patch };
      for (const waiter of [...waiters]) {
        if (waiter.check(page.data)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    },
    /**
     * Resolves once the page shows what `check` looks for.
     *
     * @param {(data: any) => boolean} check
     * @returns {Promise<void>}
     */
    until(check) {
      if (check(page.data)) return Promise.resolve();
      return new Promise((done) => waiters.push({ check, resolve: () => done(undefined) }));
    },
  };
  return page;
}

test('the example page: login at launch, protected call, phone, deny, avatar, logout', async () => {
  const user = newUserName('example');
  const wx = createFakeWx({ simUrl: servers.simUrl, appid: servers.appid, user });
  const { page } = launch(wx, servers.apiUrl);

  page.onLoad(); // app.onLaunch's login is in flight: the page joins it
  await page.until((data) => data.user !== null);
  assert.equal(wx.count('/auth/login'), 1);
  assert.equal(wx.loginCalls, 1);

  page.callProtected();
  await page.until((data) => data.protectedAnswer !== '');
  assert.equal(page.data.protectedAnswer, `GET /me → 200, user ${page.data.user.id}`);

  const { code } = await simulatorControl(servers.simUrl, '/__sim/phone-code', { appid: servers.appid, user });
  page.onGetPhoneNumber({ type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:ok', code } });
  await page.until((data) => data.status !== '');
  assert.equal(page.data.status, '手机号已绑定 · phone bound');
  assert.match(page.data.user.phone, /^\d{11}$/);

  page.setData({ status: '' });
  page.onGetPhoneNumber({ type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:fail user deny' } });
  await page.until((data) => data.status !== '');
  assert.equal(page.data.status, '已取消 · you said no');

  const avatar = join(mkdtempSync(join(tmpdir(), 'wxlogin-example-')), 'tmp_avatar.png');
  writeFileSync(avatar, tinyPng());
  page.setData({ status: '' });
  page.onChooseAvatar({ type: 'chooseavatar', detail: { avatarUrl: avatar } });
  await page.until((data) => data.status !== '');
  assert.equal(page.data.status, '头像已更新 · avatar saved');
  assert.equal(typeof page.data.user.avatar_url, 'string');

  page.setData({ status: '' });
  page.onSubmit({ type: 'submit', detail: { value: { nickname: '  ' } } });
  assert.equal(page.data.status, '请填写昵称 · enter a nickname'); // nothing sent for a blank one

  page.setData({ status: '' });
  page.logout();
  await page.until((data) => data.status !== '');
  assert.equal(page.data.status, '已退出 · logged out');
  assert.equal(page.data.user, null);
  assert.equal(wx.count('/auth/logout'), 1);
  page.onUnload();
});

test('the example page: nickname from the form', async () => {
  const wx = createFakeWx({ simUrl: servers.simUrl, appid: servers.appid, user: newUserName('example') });
  const { page } = launch(wx, servers.apiUrl);
  page.onLoad();
  await page.until((data) => data.user !== null);

  page.onSubmit({ type: 'submit', detail: { value: { nickname: '小明' } } });
  await page.until((data) => data.status !== '');

  assert.equal(page.data.status, '昵称已保存 · nickname saved');
  assert.equal(page.data.user.nickname, '小明');
  page.onUnload();
});

test('the uni-app example\'s auth module: the ES module on the global uni, provider weixin', async () => {
  const source = readFileSync(join(here, '..', '..', '..', 'examples', 'uniapp', 'src', 'auth.js'), 'utf8');
  assert.match(source, /from 'wxlogin-miniprogram'/);
  // Resolve the package name as uni-app's bundler would (exports.import → src/index.mjs) and
  // point baseUrl at the test server; the rest of the module runs as written.
  const sdk = pathToFileURL(join(here, '..', 'src', 'index.mjs')).href;
  const runnable = source
    .replace(/from 'wxlogin-miniprogram'/, `from '${sdk}'`)
    .replace(/baseUrl: '[^']*'/, `baseUrl: '${servers.apiUrl}'`);
  const file = join(mkdtempSync(join(tmpdir(), 'wxlogin-uniapp-')), 'auth.mjs');
  writeFileSync(file, runnable);
  const uni = createFakeWx({ simUrl: servers.simUrl, appid: servers.appid, user: newUserName('uniapp'), platform: 'uni' });
  /** @type {any} */ (globalThis).uni = uni;
  try {
    const { auth } = await import(pathToFileURL(file).href);
    const answers = await Promise.all([auth.ensureLogin(), auth.request({ url: '/me' })]);
    assert.equal(answers[1].data.id, answers[0].id);
    assert.equal(uni.count('/auth/login'), 1);
  } finally {
    delete (/** @type {any} */ (globalThis).uni);
  }
});
