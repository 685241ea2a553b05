// Logging in: first and returning logins, one login for many callers, fresh codes only.

import assert from 'node:assert/strict';

import { ErrorKind, NetworkError, ServerError, WxApiError, createAuth } from '../src/index.mjs';
import { createFakeWx } from './fake-wx.mjs';
import { simulatorCodes, simulatorControl } from './harness.mjs';
import { http, newClient, newUserName, storedSession, test, useServers } from './support.mjs';

const servers = useServers();

test('first login creates the user; the session is stored under baseUrl + appid, without session_key', async () => {
  const { auth, wx, events, user } = newClient(servers, { appid: servers.appid });
  assert.equal(auth.isLoggedIn(), false);

  const result = await auth.login();

  assert.equal(result.newUser, true);
  const sim = await simulatorControl(servers.simUrl, `/__sim/users/${encodeURIComponent(user)}`, undefined);
  assert.deepEqual(
    result.user.identities.map((/** @type {any} */ i) => [i.appid, i.openid]),
    [[servers.appid, sim.apps[servers.appid].openid]],
  );
  assert.deepEqual(events, [{ type: 'login', user: result.user, newUser: true }]);
  assert.equal(wx.loginCalls, 1);

  const stored = storedSession(wx.storage);
  assert.equal(stored.key, `wxlogin:${servers.apiUrl}#${servers.appid}`);
  assert.equal(typeof stored.value.access_token, 'string');
  assert.equal(typeof stored.value.refresh_token, 'string');
  assert.doesNotMatch(stored.text, /session_key/i);
  assert.equal(stored.value.user.id, result.user.id);

  // The stored token is one the server accepts.
  const me = await http(`${servers.apiUrl}/me`, { token: stored.value.access_token });
  assert.equal(me.status, 200);
  assert.equal(me.body.id, result.user.id);
});

test('a returning user on a new phone logs in to the same account, new_user false', async () => {
  const first = newClient(servers);
  const { user: created } = await first.auth.login();

  const again = newClient(servers, { user: first.user });
  const result = await again.auth.login();

  assert.equal(result.newUser, false);
  assert.equal(result.user.id, created.id);
  assert.notEqual(storedSession(again.wx.storage).value.access_token, storedSession(first.wx.storage).value.access_token);
});

test('a stored session is used at the next launch: no wx.login, no /auth/login', async () => {
  const storage = new Map();
  const first = newClient(servers, { storage });
  const { user } = await first.auth.login();

  const relaunched = newClient(servers, { user: first.user, storage });
  assert.equal(relaunched.auth.isLoggedIn(), true);
  assert.equal(relaunched.auth.getUser()?.id, user.id);
  assert.equal((await relaunched.auth.ensureLogin()).id, user.id);
  const me = await relaunched.auth.me();

  assert.equal(me.id, user.id);
  assert.equal(relaunched.wx.loginCalls, 0);
  assert.equal(relaunched.wx.count('/auth/login'), 0);
});

test('10 concurrent requests without a session cause exactly one wx.login and one /auth/login', async () => {
  const { auth, wx } = newClient(servers);
  const codesBefore = await simulatorCodes(servers.simUrl);

  const answers = await Promise.all(Array.from({ length: 10 }, () => auth.request({ url: '/me' })));

  assert.deepEqual(
    answers.map((a) => a.statusCode),
    Array(10).fill(200),
  );
  assert.equal(new Set(answers.map((a) => a.data.id)).size, 1);
  assert.equal(wx.loginCalls, 1);
  assert.equal(wx.count('/auth/login'), 1);
  assert.equal(wx.count('/me', 'GET'), 10);
  // Counted on the WeChat side too: one code minted, one traded.
  const codesAfter = await simulatorCodes(servers.simUrl);
  assert.equal(codesAfter.issued - codesBefore.issued, 1);
  assert.equal(codesAfter.used - codesBefore.used, 1);
});

test('ensureLogin from many places at launch: one login, all get the same user', async () => {
  const { auth, wx } = newClient(servers);
  const users = await Promise.all([auth.ensureLogin(), auth.ensureLogin(), auth.login(), auth.me()]);
  assert.equal(new Set(users.map((u) => ('user' in u ? u.user.id : u.id))).size, 1);
  assert.equal(wx.count('/auth/login'), 1);
});

test('code_used: one retry with a fresh code from a new wx.login (a spent code replayed)', async () => {
  const spender = newClient(servers);
  await spender.auth.login();
  // A code that was already traded, as a cached code would be.
  const { code: spent } = await simulatorControl(servers.simUrl, '/__sim/login', {
    appid: servers.appid,
    user: spender.user,
  });
  assert.equal((await http(`${servers.apiUrl}/auth/login`, { method: 'POST', json: { code: spent } })).status, 200);

  const { auth, wx } = newClient(servers, { user: spender.user });
  wx.replayCodes.push(spent);
  const result = await auth.login();

  assert.equal(result.newUser, false);
  assert.equal(wx.loginCalls, 2);
  assert.deepEqual(
    wx.calls.filter((c) => c.path === '/auth/login').map((c) => c.statusCode),
    [400, 200],
  );
});

test('code_used from WeChat (a simulator fault): one retry with a fresh code', async () => {
  const { auth, wx } = newClient(servers);
  await simulatorControl(servers.simUrl, '/__sim/faults', { path: '/sns/jscode2session', errcode: 40163 });

  const result = await auth.login();

  assert.equal(result.newUser, true);
  assert.equal(wx.loginCalls, 2);
  assert.equal(wx.count('/auth/login'), 2);
});

test('invalid_code twice: exactly one retry, then a ServerError the page can switch on', async () => {
  const { auth, wx } = newClient(servers);
  wx.replayCodes.push('not-a-code-from-wechat-000000001', 'not-a-code-from-wechat-000000002');

  const error = await auth.login().then(
    () => assert.fail('login should fail'),
    (/** @type {any} */ e) => e,
  );

  assert.ok(error instanceof ServerError);
  assert.equal(error.kind, ErrorKind.SERVER);
  assert.equal(error.code, 'invalid_code');
  assert.equal(error.status, 400);
  assert.equal(error.wechatErrcode, 40029);
  assert.equal(wx.loginCalls, 2);
  assert.equal(wx.count('/auth/login'), 2);
  assert.equal(auth.isLoggedIn(), false);
  assert.equal(wx.storage.size, 0);
});

test('a failed login is not remembered: the next call starts a new one and succeeds', async () => {
  const { auth, wx } = newClient(servers);
  wx.loginFailure = 'login:fail system error';
  const error = await auth.ensureLogin().catch((/** @type {any} */ e) => e);
  assert.ok(error instanceof WxApiError);
  assert.equal(error.kind, ErrorKind.WX_API);
  assert.equal(error.errMsg, 'login:fail system error');
  assert.equal(wx.count('/auth/login'), 0);

  wx.loginFailure = null;
  const user = await auth.ensureLogin();
  assert.equal(typeof user.id, 'string');
  assert.equal(wx.count('/auth/login'), 1);
});

test('a user WeChat blocks gets user_blocked once; a code is not retried for it', async () => {
  const { auth, wx, user } = newClient(servers);
  const patched = await fetch(`${servers.simUrl}/__sim/users/${encodeURIComponent(user)}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ high_risk: true }),
  });
  assert.equal(patched.status, 200);

  const error = await auth.login().catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof ServerError);
  assert.equal(error.code, 'user_blocked');
  assert.equal(error.status, 403);
  assert.equal(wx.count('/auth/login'), 1);
});

test('no server at baseUrl: a NetworkError, nothing stored', async () => {
  const closed = await closedPort();
  const { auth, wx } = newClient(servers, { baseUrl: `http://127.0.0.1:${closed}` });

  const error = await auth.request({ url: '/me' }).catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof NetworkError);
  assert.equal(error.kind, ErrorKind.NETWORK);
  assert.match(error.errMsg, /^request:fail /);
  assert.equal(wx.storage.size, 0);
});

test('request() sends the token only to baseUrl', async () => {
  const { auth, wx } = newClient(servers);
  await assert.rejects(auth.request({ url: 'https://elsewhere.example/steal' }), TypeError);
  await assert.rejects(auth.request({ url: `${servers.apiUrl}.evil.example/me` }), TypeError);
  assert.equal(wx.calls.length, 0);
  const answer = await auth.request({ url: `${servers.apiUrl}/me` });
  assert.equal(answer.statusCode, 200);
});

test('request() answers 4xx like wx.request does, without throwing', async () => {
  const { auth } = newClient(servers);
  const answer = await auth.request({ url: '/no-such-route' });
  assert.equal(answer.statusCode, 404);
  assert.equal(answer.data.error.code, 'not_found');
});

test('two apps on one server keep separate sessions (storage namespaced by appid)', async () => {
  const storage = new Map();
  const wx = createFakeWx({ simUrl: servers.simUrl, appid: servers.appid, user: newUserName(), storage });
  const withAppid = createAuth({ baseUrl: servers.apiUrl, appid: servers.appid, platformApi: wx });
  await withAppid.login();
  assert.equal(storage.size, 1);
  // Created after the login, on the same storage: it reads its own key, not the other's.
  const withoutAppid = createAuth({ baseUrl: servers.apiUrl, platformApi: wx });
  assert.equal(withoutAppid.isLoggedIn(), false);
  const sameAppAgain = createAuth({ baseUrl: servers.apiUrl + '/', appid: servers.appid, platformApi: wx });
  assert.equal(sameAppAgain.isLoggedIn(), true);
});

/** @returns {Promise<number>} a port that refuses connections */
async function closedPort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(address.port));
    });
  });
}
