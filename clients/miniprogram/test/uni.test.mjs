// The same SDK on uni-app: uni.login({provider: 'weixin'}) and uni.request, callbacks only.

import assert from 'node:assert/strict';

import { UserDeniedError, createAuth } from '../src/index.mjs';
import { createFakeWx } from './fake-wx.mjs';
import { simulatorControl } from './harness.mjs';
import { http, newClient, newUserName, storedSession, test, useServers } from './support.mjs';

const servers = useServers();

test('uni: one login for concurrent calls, with provider weixin', async () => {
  const { auth, wx } = newClient(servers, { platform: 'uni' });

  const answers = await Promise.all(Array.from({ length: 10 }, () => auth.request({ url: '/me' })));

  assert.deepEqual(answers.map((a) => a.statusCode), Array(10).fill(200));
  assert.equal(wx.loginCalls, 1);
  assert.equal(wx.count('/auth/login'), 1);
});

test('uni: the whole flow — login, 401 → refresh, phone, deny, logout', async () => {
  const storage = new Map();
  const first = newClient(servers, { platform: 'uni', storage });
  const { user, newUser } = await first.auth.login();
  assert.equal(newUser, true);

  // Relaunch holding a token the server refuses: one refresh, and the call answers.
  const { key, value } = storedSession(storage);
  storage.set(key, JSON.stringify({ ...value, access_token: value.access_token + 'x' }));
  const { auth, wx } = newClient(servers, { platform: 'uni', storage, user: first.user });
  assert.equal((await auth.me()).id, user.id);
  assert.equal(wx.count('/auth/refresh'), 1);

  const { code } = await simulatorControl(servers.simUrl, '/__sim/phone-code', {
    appid: servers.appid,
    user: first.user,
  });
  const withPhone = await auth.bindPhone({ detail: { errMsg: 'getPhoneNumber:ok', code } });
  assert.match(String(withPhone.phone), /^\d{11}$/);
  await assert.rejects(auth.bindPhone({ detail: { errMsg: 'getPhoneNumber:fail user deny' } }), UserDeniedError);

  const { access_token: token } = storedSession(storage).value;
  await auth.logout();
  await auth.logout();
  assert.equal(wx.count('/auth/logout'), 1);
  assert.equal((await http(`${servers.apiUrl}/me`, { token })).status, 401);
  assert.equal(storage.size, 0);
});

test('uni: a uni object that is handed wx-style login options would refuse them', async () => {
  // The fake uni refuses a login without provider, as uni-app's App side does; this is what
  // makes the two tests above prove that the SDK passes it.
  const uni = createFakeWx({ simUrl: servers.simUrl, appid: servers.appid, user: newUserName(), platform: 'uni' });
  const refused = await new Promise((resolve) => uni.login({ success: resolve, fail: resolve }));
  assert.deepEqual(refused, { errMsg: 'login:fail provider must be weixin' });
  // And an SDK told it is on wx, but given uni, trips over exactly that.
  const confused = createAuth({ baseUrl: servers.apiUrl, platform: 'wx', platformApi: uni });
  await assert.rejects(confused.login(), /provider must be weixin/);
});
