// What a page does with a session: the phone button, the avatar, the nickname, logging out.

import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ErrorKind, NotLoggedInError, ServerError, UserDeniedError, WxApiError } from '../src/index.mjs';
import { simulatorControl } from './harness.mjs';
import { tinyPng } from './png.mjs';
import { http, newClient, storedSession, test, useServers } from './support.mjs';

const servers = useServers();
const files = mkdtempSync(join(tmpdir(), 'wxlogin-sdk-files-'));

/**
 * What the getPhoneNumber button hands its handler after the user taps "allow".
 *
 * @param {string} user
 */
async function phoneButtonAllowed(user) {
  const { code } = await simulatorControl(servers.simUrl, '/__sim/phone-code', { appid: servers.appid, user });
  return { type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:ok', code } };
}

test('phone button "ok": POST /me/phone with its code binds the number WeChat holds', async () => {
  const { auth, wx, user, events } = newClient(servers);
  await auth.login();
  const simUser = await simulatorControl(servers.simUrl, `/__sim/users/${encodeURIComponent(user)}`, undefined);

  const updated = await auth.bindPhone(await phoneButtonAllowed(user));

  assert.equal(updated.phone, simUser.phone);
  assert.equal(auth.getUser()?.phone, simUser.phone);
  assert.equal(events.at(-1).type, 'user');
  assert.equal(events.at(-1).user.phone, simUser.phone);
  assert.equal(wx.count('/me/phone'), 1);
  assert.equal(wx.loginCalls, 1); // the login before; none inside the button's callback
  assert.equal(storedSession(wx.storage).value.user.phone, simUser.phone);
});

test('phone button "fail user deny" / "fail:user cancel": UserDeniedError, no server call', async () => {
  const { auth, wx } = newClient(servers);
  await auth.login();
  const callsBefore = wx.calls.length;

  for (const errMsg of ['getPhoneNumber:fail user deny', 'getPhoneNumber:fail:user cancel']) {
    const error = await auth.bindPhone({ detail: { errMsg } }).catch((/** @type {any} */ e) => e);
    assert.ok(error instanceof UserDeniedError, errMsg);
    assert.equal(error.kind, ErrorKind.USER_DENIED);
    assert.equal(error.errMsg, errMsg);
  }
  assert.equal(wx.calls.length, callsBefore);
});

test('phone button quota used up (errno 1400001): a WxApiError with the errno, no server call', async () => {
  const { auth, wx } = newClient(servers);
  await auth.login();
  const callsBefore = wx.calls.length;
  const detail = { errMsg: 'getPhoneNumber:fail no permission', errno: 1400001 };

  const error = await auth.bindPhone(detail).catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof WxApiError);
  assert.equal(error.errno, 1400001);
  assert.equal(wx.calls.length, callsBefore);
});

test('phone button without a session: NotLoggedInError, and no wx.login inside the callback', async () => {
  const { auth, wx, user } = newClient(servers);

  const error = await auth.bindPhone(await phoneButtonAllowed(user)).catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof NotLoggedInError);
  assert.equal(error.kind, ErrorKind.NOT_LOGGED_IN);
  assert.equal(wx.loginCalls, 0);
  assert.equal(wx.calls.length, 0);
});

test('a phone code used twice: the server\'s error reaches the page as a ServerError', async () => {
  const { auth, user } = newClient(servers);
  await auth.login();
  const event = await phoneButtonAllowed(user);
  await auth.bindPhone(event);

  const error = await auth.bindPhone(event).catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof ServerError);
  assert.equal(error.status, 400);
  assert.equal(error.code, 'invalid_code');
});

test('nickname from the form: POST /me/profile (wx.request has no PATCH), the user is updated everywhere', async () => {
  const { auth, wx, events } = newClient(servers);
  await auth.login();

  const updated = await auth.updateProfile({ nickname: '小明 Xiaoming' });

  assert.equal(updated.nickname, '小明 Xiaoming');
  assert.equal((await auth.me()).nickname, '小明 Xiaoming');
  assert.equal(storedSession(wx.storage).value.user.nickname, '小明 Xiaoming');
  // One 'user' event for the change; the /me that found nothing new adds none.
  assert.deepEqual(
    events.map((e) => e.type),
    ['login', 'user'],
  );
  await assert.rejects(auth.updateProfile({}), TypeError);
});

test('avatar: wx.uploadFile to POST /me/avatar (field "file") sets avatar_url to a served image', async () => {
  const { auth, wx, events } = newClient(servers);
  await auth.login();
  const png = tinyPng();
  const path = join(files, 'avatar.png');
  writeFileSync(path, png);

  const updated = await auth.uploadAvatar(path);

  assert.equal(typeof updated.avatar_url, 'string');
  assert.equal(auth.getUser()?.avatar_url, updated.avatar_url);
  assert.equal(events.at(-1).type, 'user');
  assert.deepEqual(
    wx.calls.filter((c) => c.api === 'uploadFile').map((c) => [c.path, c.statusCode]),
    [['/me/avatar', 200]],
  );
  const served = await fetch(new URL(/** @type {string} */ (updated.avatar_url), servers.apiUrl));
  assert.equal(served.status, 200);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), png);
});

test('avatar over 2 MB: a ServerError with HTTP 413, the user unchanged', async () => {
  const { auth } = newClient(servers);
  const { user } = await auth.login();
  const path = join(files, 'huge.png');
  // A PNG signature, then padding: the size is what must be refused.
  writeFileSync(path, Buffer.concat([tinyPng(), Buffer.alloc(2 * 1024 * 1024 + 1)]));

  const error = await auth.uploadAvatar(path).catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof ServerError, String(error));
  assert.equal(error.status, 413);
  assert.equal(auth.getUser()?.avatar_url, user.avatar_url);
});

test('uploadFile() after a 401 refreshes and sends the file again', async () => {
  const storage = new Map();
  const first = newClient(servers, { storage });
  await first.auth.login();
  const { key, value } = storedSession(storage);
  storage.set(key, JSON.stringify({ ...value, access_token: value.access_token + 'x' }));
  const { auth, wx } = newClient(servers, { user: first.user, storage });
  const path = join(files, 'again.png');
  writeFileSync(path, tinyPng());

  const answer = await auth.uploadFile({ url: '/me/avatar', filePath: path, name: 'file' });

  assert.equal(answer.statusCode, 200);
  assert.equal(typeof answer.data, 'string'); // the raw body, as wx.uploadFile gives it
  assert.equal(typeof JSON.parse(answer.data).avatar_url, 'string');
  assert.deepEqual(
    wx.calls.map((c) => [c.api, c.path, c.statusCode]),
    [
      ['uploadFile', '/me/avatar', 401],
      ['request', '/auth/refresh', 200],
      ['uploadFile', '/me/avatar', 200],
    ],
  );
});

test('double logout: one /auth/logout, the session is revoked on the server, state cleared', async () => {
  const { auth, wx, events } = newClient(servers);
  const { user } = await auth.login();
  const { access_token: token, refresh_token: refreshToken } = storedSession(wx.storage).value;

  await Promise.all([auth.logout(), auth.logout()]);
  await auth.logout();

  assert.equal(wx.count('/auth/logout'), 1);
  assert.equal(auth.isLoggedIn(), false);
  assert.equal(auth.getUser(), null);
  assert.equal(wx.storage.size, 0);
  assert.deepEqual(events.slice(1), [{ type: 'logout', user, reason: 'logout' }]);
  const me = await http(`${servers.apiUrl}/me`, { token });
  assert.equal(me.status, 401);
  assert.equal(me.body.error.code, 'session_revoked');
  const refreshed = await http(`${servers.apiUrl}/auth/refresh`, {
    method: 'POST',
    json: { refresh_token: refreshToken },
  });
  assert.equal(refreshed.status, 401);
});

test('logout offline still clears the local session; the next call logs in afresh', async () => {
  const { auth, wx } = newClient(servers);
  const { user } = await auth.login();

  wx.offline = true;
  await auth.logout(); // resolves: never rejects
  assert.equal(auth.isLoggedIn(), false);
  assert.equal(wx.storage.size, 0);

  wx.offline = false;
  const again = await auth.ensureLogin();
  assert.equal(again.id, user.id);
  assert.equal(wx.count('/auth/login'), 2);
});

test('the fake refuses PATCH as wx.request does; request() says why before sending', async () => {
  const { auth, wx } = newClient(servers);
  await auth.login();
  await assert.rejects(auth.request({ url: '/me/profile', method: 'PATCH', data: { nickname: 'x' } }), /cannot send PATCH/);
  const failed = await new Promise((resolve) =>
    wx.request({ url: `${servers.apiUrl}/me`, method: 'PATCH', success: resolve, fail: resolve }),
  );
  assert.deepEqual(failed, { errMsg: 'request:fail method is invalid' });
  assert.equal(wx.count('/me/profile', 'PATCH'), 0);
});

test('onChange returns an unsubscribe function; a throwing listener breaks nothing', async () => {
  const { auth } = newClient(servers);
  /** @type {string[]} */
  const seen = [];
  const unsubscribe = auth.onChange((event) => seen.push(event.type));
  const original = console.error;
  console.error = () => {};
  try {
    auth.onChange(() => {
      throw new Error('a broken page handler');
    });
    await auth.login();
  } finally {
    console.error = original;
  }
  unsubscribe();
  await auth.logout();
  assert.deepEqual(seen, ['login']);
});
