// Keeping a session: refresh before expiry (a hand-moved clock, no sleeping), refresh on 401,
// one refresh for many callers, a new login when the session is gone.

import assert from 'node:assert/strict';

import { ErrorKind, NetworkError, NotLoggedInError } from '../src/index.mjs';
import { http, manualClock, newClient, storedSession, test, useServers } from './support.mjs';

const servers = useServers();

/**
 * Log a user in, then relaunch the mini program with the stored access token replaced by one
 * the server refuses (its signature broken) — what a device holds after a long sleep.
 */
async function relaunchWithRefusedToken(options = {}) {
  const storage = new Map();
  const first = newClient(servers, { storage, ...options });
  const { user } = await first.auth.login();
  const { key, value } = storedSession(storage);
  const refused = value.access_token.slice(0, -6) + (value.access_token.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
  storage.set(key, JSON.stringify({ ...value, access_token: refused }));
  const relaunched = newClient(servers, { user: first.user, storage, ...options });
  return { ...relaunched, user, refused, original: value };
}

test('401 → one refresh → the call is retried and answers', async () => {
  const { auth, wx, user, events, refused } = await relaunchWithRefusedToken();
  assert.equal((await http(`${servers.apiUrl}/me`, { token: refused })).status, 401);

  const answer = await auth.request({ url: '/me' });

  assert.equal(answer.statusCode, 200);
  assert.equal(answer.data.id, user.id);
  assert.deepEqual(
    wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/me', 401],
      ['/auth/refresh', 200],
      ['/me', 200],
    ],
  );
  assert.deepEqual(events, [{ type: 'refresh', user }]);
  const stored = storedSession(wx.storage).value;
  assert.notEqual(stored.access_token, refused);
});

test('10 concurrent 401s → exactly one /auth/refresh, no login, and the session stays valid', async () => {
  const clock = manualClock();
  const { auth, wx, user, original } = await relaunchWithRefusedToken({ now: clock.now });

  const answers = await Promise.all(Array.from({ length: 10 }, () => auth.request({ url: '/me' })));

  assert.deepEqual(
    answers.map((a) => [a.statusCode, a.data.id]),
    Array(10).fill([200, user.id]),
  );
  assert.equal(wx.count('/auth/refresh'), 1);
  assert.equal(wx.count('/auth/login'), 0);
  assert.equal(wx.loginCalls, 0);
  assert.deepEqual(
    wx.calls.filter((c) => c.path === '/me').map((c) => c.statusCode).sort(),
    [...Array(10).fill(200), ...Array(10).fill(401)],
  );

  // The session survived: its stored tokens work, the refresh token was rotated (not reused),
  // and the next refresh — due once the clock passes the token's life — succeeds.
  const stored = storedSession(wx.storage).value;
  assert.notEqual(stored.refresh_token, original.refresh_token);
  assert.equal((await http(`${servers.apiUrl}/me`, { token: stored.access_token })).status, 200);
  clock.advance(stored.expires_at - clock.now() + 1);
  assert.equal((await auth.request({ url: '/me' })).statusCode, 200);
  assert.equal(wx.count('/auth/refresh'), 2);
  assert.equal(wx.count('/auth/login'), 0);
});

test('a 401 that arrives after another caller\'s refresh is retried with the new token, not refreshed again', async () => {
  const { auth, wx, user } = await relaunchWithRefusedToken();
  const late = wx.holdNext('/me', 'answer');

  const slow = auth.request({ url: '/me' }); // its 401 is held back on the way
  await late.arrived;
  const fast = await auth.request({ url: '/me' }); // 401 → the refresh → 200
  assert.equal(fast.statusCode, 200);
  assert.equal(wx.count('/auth/refresh'), 1);
  late.release(); // now the first caller learns of its 401, after the refresh

  assert.equal((await slow).data.id, user.id);
  assert.equal(wx.count('/auth/refresh'), 1); // a second one would have spent a rotated token
  assert.deepEqual(
    wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/me', 401],
      ['/me', 401],
      ['/auth/refresh', 200],
      ['/me', 200],
      ['/me', 200],
    ],
  );
});

test('the token is refreshed before it expires (the SDK clock moved), without a 401', async () => {
  const clock = manualClock();
  const { auth, wx } = newClient(servers, { now: clock.now });
  await auth.login();
  const { expires_at: expiresAt, access_token: before } = storedSession(wx.storage).value;

  // Well inside the token's life: no refresh.
  clock.advance((expiresAt - clock.now()) / 2 - 1000);
  assert.equal((await auth.request({ url: '/me' })).statusCode, 200);
  assert.equal(wx.count('/auth/refresh'), 0);

  // 30 s before expiry (inside the default 60 s margin): one refresh, then the call.
  clock.advance(expiresAt - clock.now() - 30_000);
  const answers = await Promise.all(Array.from({ length: 5 }, () => auth.request({ url: '/me' })));

  assert.deepEqual(answers.map((a) => a.statusCode), Array(5).fill(200));
  assert.equal(wx.count('/auth/refresh'), 1);
  assert.equal(wx.calls.filter((c) => c.statusCode === 401).length, 0);
  assert.notEqual(storedSession(wx.storage).value.access_token, before);
});

test('a session revoked elsewhere: refresh is refused, one new login, the call answers', async () => {
  const { auth, wx, events } = newClient(servers);
  const { user } = await auth.login();
  const { access_token: token } = storedSession(wx.storage).value;
  // Logged out from another device (or by an admin): the whole session is revoked.
  assert.equal((await http(`${servers.apiUrl}/auth/logout`, { method: 'POST', token })).status, 204);

  const answer = await auth.request({ url: '/me' });

  assert.equal(answer.statusCode, 200);
  assert.equal(answer.data.id, user.id);
  assert.deepEqual(
    wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/auth/login', 200],
      ['/me', 401],
      ['/auth/refresh', 401],
      ['/auth/login', 200],
      ['/me', 200],
    ],
  );
  assert.deepEqual(
    events.map((e) => [e.type, e.reason]),
    [
      ['login', undefined],
      ['logout', 'session_ended'],
      ['login', undefined],
    ],
  );
});

test('a refresh token the server does not know (expired or forged): one new login', async () => {
  const clock = manualClock();
  const storage = new Map();
  const first = newClient(servers, { storage, now: clock.now });
  const { user } = await first.auth.login();
  const { key, value } = storedSession(storage);
  storage.set(key, JSON.stringify({ ...value, refresh_token: value.refresh_token + 'x' }));
  const relaunched = newClient(servers, { user: first.user, storage, now: clock.now });
  clock.advance(value.expires_at - clock.now() + 1); // the access token is due for a refresh

  const me = await relaunched.auth.me();

  assert.equal(me.id, user.id);
  assert.deepEqual(
    relaunched.wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/auth/refresh', 401],
      ['/auth/login', 200],
      ['/me', 200],
    ],
  );
});

test('401 after the refresh, and again after a new login: NotLoggedInError, no third try', async () => {
  const { auth, wx } = await relaunchWithRefusedToken();
  const revokeStoredSession = async () => {
    const { access_token: token } = storedSession(wx.storage).value;
    assert.equal((await http(`${servers.apiUrl}/auth/logout`, { method: 'POST', token })).status, 204);
  };
  // The retry after the refresh, and the retry after the new login, each find their session
  // revoked (another device logging out at the worst moments).
  const afterRefresh = wx.holdNext('/me', 'send', 1);

  const outcome = auth.request({ url: '/me' }).catch((/** @type {any} */ e) => e);
  await afterRefresh.arrived;
  await revokeStoredSession();
  const afterLogin = wx.holdNext('/me', 'send');
  afterRefresh.release();
  await afterLogin.arrived;
  await revokeStoredSession();
  afterLogin.release();
  const error = await outcome;

  assert.ok(error instanceof NotLoggedInError, String(error));
  assert.equal(error.cause.code, 'session_revoked');
  assert.deepEqual(
    wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/me', 401],
      ['/auth/refresh', 200],
      ['/me', 401],
      ['/auth/login', 200],
      ['/me', 401],
    ],
  );
});

test('a refresh token the server cannot even read (400): the session is dropped, one new login', async () => {
  const clock = manualClock();
  const storage = new Map();
  const first = newClient(servers, { storage, now: clock.now });
  const { user } = await first.auth.login();
  const { key, value } = storedSession(storage);
  storage.set(key, JSON.stringify({ ...value, refresh_token: 'x'.repeat(600) }));
  const relaunched = newClient(servers, { user: first.user, storage, now: clock.now });
  clock.advance(value.expires_at - clock.now() + 1);

  assert.equal((await relaunched.auth.me()).id, user.id);
  assert.deepEqual(
    relaunched.wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/auth/refresh', 400],
      ['/auth/login', 200],
      ['/me', 200],
    ],
  );
  // and the next call goes on with the new session, not the unreadable token
  assert.equal((await relaunched.auth.request({ url: '/me' })).statusCode, 200);
  assert.equal(relaunched.wx.count('/auth/refresh'), 1);
});

test('a refresh that fails on the network leaves no stuck flag: the next call refreshes again', async () => {
  const clock = manualClock();
  const { auth, wx } = newClient(servers, { now: clock.now });
  await auth.login();
  clock.advance(storedSession(wx.storage).value.expires_at - clock.now() + 1);

  wx.offline = true;
  const results = await Promise.allSettled([auth.request({ url: '/me' }), auth.request({ url: '/me' })]);
  for (const result of results) {
    assert.equal(result.status, 'rejected');
    assert.ok(result.reason instanceof NetworkError);
    assert.equal(result.reason.kind, ErrorKind.NETWORK);
  }
  assert.equal(wx.count('/auth/refresh'), 1); // both callers shared the one attempt
  assert.equal(auth.isLoggedIn(), true); // the network is no reason to drop the session

  wx.offline = false;
  const answer = await auth.request({ url: '/me' });
  assert.equal(answer.statusCode, 200);
  assert.deepEqual(
    wx.calls.filter((c) => c.path === '/auth/refresh').map((c) => c.statusCode),
    [null, 200],
  );
  assert.equal(wx.count('/auth/login'), 1);
});

test('logout while a refresh is out: the refresh answered 200 does not bring the session back', async () => {
  const clock = manualClock();
  const { auth, wx } = newClient(servers, { now: clock.now });
  await auth.login();
  clock.advance(storedSession(wx.storage).value.expires_at - clock.now() + 1);
  const refresh = wx.holdNext('/auth/refresh', 'answer');

  const outcome = auth.request({ url: '/me' }).catch((/** @type {any} */ e) => e);
  await refresh.arrived; // the server rotated the tokens; the SDK has not heard yet
  await auth.logout();
  refresh.release();
  const error = await outcome;

  assert.ok(error instanceof NotLoggedInError, String(error));
  assert.equal(auth.isLoggedIn(), false);
  assert.equal(wx.storage.size, 0);
  assert.deepEqual(
    wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/auth/login', 200],
      ['/auth/refresh', 200],
      ['/auth/logout', 204],
    ],
  );
});

test('logout while a refresh is out: the refresh refused 401 does not log the user back in', async () => {
  const clock = manualClock();
  const { auth, wx } = newClient(servers, { now: clock.now });
  await auth.login();
  clock.advance(storedSession(wx.storage).value.expires_at - clock.now() + 1);
  const refresh = wx.holdNext('/auth/refresh', 'send');

  const outcome = auth.request({ url: '/me' }).catch((/** @type {any} */ e) => e);
  await refresh.arrived; // the refresh is about to go out
  await auth.logout(); // the server revokes the session first
  refresh.release();
  const error = await outcome;

  assert.ok(error instanceof NotLoggedInError, String(error));
  assert.equal(auth.isLoggedIn(), false);
  assert.equal(wx.storage.size, 0);
  assert.deepEqual(
    wx.calls.map((c) => [c.path, c.statusCode]),
    [
      ['/auth/login', 200],
      ['/auth/refresh', 401], // recorded when it was sent, answered after the logout
      ['/auth/logout', 204],
    ],
  );
  assert.equal(wx.loginCalls, 1); // no login behind the user's back
});
