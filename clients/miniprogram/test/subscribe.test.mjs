// Subscribe messages end to end: the user taps, accepts in the dialog (played at the
// simulator), the host app's backend sends with its service token, the message is delivered —
// once per accept — and shows in the simulator's state.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { MAX_TEMPLATES_PER_REQUEST, UserDeniedError, WxApiError } from '../src/index.mjs';
import { subscribeResults } from '../src/subscribe.mjs';
import { simulatorControl } from './harness.mjs';
import { http, newClient, test, useServers } from './support.mjs';

const SHIPPED = 'tmpl-order-shipped';
const ARRIVED = 'tmpl-order-arrived';
const FIELDS = { thing1: 'thing', time2: 'time' };
const DATA = { thing1: '您的订单已发货', time2: '2026年12月1日 10:00' };
// The host app's backend credential, made up per run (no secret is written down in clients/).
const SERVICE_TOKEN = randomBytes(32).toString('base64url');
const TEMPLATES = { [SHIPPED]: FIELDS, [ARRIVED]: FIELDS };

const servers = useServers({
  env: {
    WXLOGIN_SERVICE_TOKENS: SERVICE_TOKEN,
    WXLOGIN_MESSAGE_TEMPLATES: JSON.stringify(TEMPLATES),
  },
  templates: TEMPLATES,
});

/**
 * What the host app's backend does when the order ships: POST /messages with its token.
 *
 * @param {string} userId
 * @param {string} [templateId]
 */
function notify(userId, templateId = SHIPPED) {
  return http(`${servers.apiUrl}/messages`, {
    method: 'POST',
    token: SERVICE_TOKEN,
    json: { user_id: userId, template_id: templateId, data: DATA, page: 'pages/order/index?id=42' },
  });
}

/** @param {string} user what the simulator holds for the user: sends allowed, messages */
async function simulatorUser(user) {
  return simulatorControl(servers.simUrl, `/__sim/users/${encodeURIComponent(user)}`, undefined);
}

test('from a tap: accept → the server sends once → delivered, visible in /__sim/state; the next send is 43101', async () => {
  const { auth, wx, user } = newClient(servers);
  const { user: me } = await auth.login();

  const results = await wx.tap(() => auth.requestSubscribe([SHIPPED]));

  assert.deepEqual(results, { [SHIPPED]: 'accept' });
  assert.deepEqual((await simulatorUser(user)).subscriptions, { [servers.appid]: { [SHIPPED]: 1 } });
  const sent = await notify(me.id);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  assert.equal(sent.body.outcome, 'sent');

  const state = await simulatorControl(servers.simUrl, '/__sim/state', undefined);
  const mine = state.users.find((/** @type {any} */ u) => u.user === user);
  assert.deepEqual(
    mine.messages.map((/** @type {any} */ m) => [m.template_id, m.data, m.page]),
    [[SHIPPED, DATA, 'pages/order/index?id=42']],
  );
  const again = await notify(me.id);
  assert.equal(again.status, 403);
  assert.equal(again.body.error.code, 'not_subscribed');
  assert.equal(again.body.error.wechat_errcode, 43101);
  assert.equal((await simulatorUser(user)).messages.length, 1);
  assert.equal(wx.calls.length, 1); // only the login: asking is WeChat's business, not the server's
});

test('several templates in one tap: each answered on its own; only accepts allow a send', async () => {
  const { auth, wx } = newClient(servers);
  const { user: me } = await auth.login();
  wx.subscribeChoices = { [ARRIVED]: 'reject' };

  const results = await wx.tap(() => auth.requestSubscribe([SHIPPED, ARRIVED]));

  assert.deepEqual(results, { [SHIPPED]: 'accept', [ARRIVED]: 'reject' });
  assert.equal((await notify(me.id, ARRIVED)).body.error.code, 'not_subscribed');
  assert.equal((await notify(me.id, SHIPPED)).status, 200);
});

test('ban and filter are reported as WeChat gives them, and allow nothing', async () => {
  const { auth, wx, user } = newClient(servers);
  await auth.login();
  wx.subscribeChoices = { [SHIPPED]: 'ban', [ARRIVED]: 'filter' };

  const results = await wx.tap(() => auth.requestSubscribe([SHIPPED, ARRIVED]));

  assert.deepEqual(results, { [SHIPPED]: 'ban', [ARRIVED]: 'filter' });
  assert.deepEqual((await simulatorUser(user)).subscriptions, {});
});

test('not from a tap: WeChat refuses, and the SDK says why', async () => {
  const { auth, wx, user } = newClient(servers);
  await auth.login();

  // After an await, the tap's turn is over: the dialog cannot open.
  const late = await wx
    .tap(async () => {
      await auth.me();
      return auth.requestSubscribe([SHIPPED]);
    })
    .catch((/** @type {any} */ e) => e);
  const outside = await auth.requestSubscribe([SHIPPED]).catch((/** @type {any} */ e) => e);

  for (const error of [late, outside]) {
    assert.ok(error instanceof WxApiError);
    assert.match(error.errMsg, /TAP gesture/);
  }
  assert.deepEqual((await simulatorUser(user)).subscriptions, {});
});

test('the user has switched subscribe messages off (errCode 20004): UserDeniedError', async () => {
  const { auth, wx } = newClient(servers);
  wx.subscribeFailure = { errMsg: 'requestSubscribeMessage:fail The main switch is switched off', errCode: 20004 };

  const error = await wx.tap(() => auth.requestSubscribe([SHIPPED])).catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof UserDeniedError);
  assert.match(error.errMsg, /main switch/);
});

test('a template the mini program does not have: WxApiError with WeChat\'s errCode', async () => {
  const { auth, wx } = newClient(servers);

  const error = await wx.tap(() => auth.requestSubscribe(['no-such-template'])).catch((/** @type {any} */ e) => e);

  assert.ok(error instanceof WxApiError);
  assert.equal(error.errno, 20001);
});

test('template ids WeChat would refuse are refused before the dialog', async () => {
  const { auth, wx } = newClient(servers);
  const six = Array.from({ length: MAX_TEMPLATES_PER_REQUEST + 1 }, (_, n) => `t${n}`);
  for (const ids of [[], six, [''], [SHIPPED, SHIPPED], 'tmpl', [42]]) {
    const error = await wx.tap(() => auth.requestSubscribe(/** @type {any} */ (ids))).catch((/** @type {any} */ e) => e);
    assert.ok(error instanceof TypeError, JSON.stringify(ids));
  }
  assert.equal(wx.subscribeCalls, 0);
});

test('the answer holds the ids asked for, with WeChat\'s four words only', () => {
  const asked = ['a', 'b', 'c'];
  const answer = { errMsg: 'requestSubscribeMessage:ok', a: 'accept', b: 'maybe', z: 'accept', c: 'filter' };
  assert.deepEqual(subscribeResults(answer, asked), { a: 'accept', c: 'filter' });
  assert.deepEqual(subscribeResults(null, asked), {});
});

test('POST /messages wants the service token, not a user\'s: its 401 costs no refresh, no login', async () => {
  const { auth, wx } = newClient(servers);
  const { user: me } = await auth.login();
  const withUserToken = await auth.request({
    url: '/messages',
    method: 'POST',
    data: { user_id: me.id, template_id: SHIPPED, data: DATA },
  });
  assert.equal(withUserToken.statusCode, 401);
  assert.equal(withUserToken.data.error.code, 'invalid_service_token');
  // Not the session's fault: the session stands, untouched.
  assert.equal(wx.count('/auth/refresh'), 0);
  assert.equal(wx.loginCalls, 1);
  assert.equal((await auth.me()).id, me.id);
  assert.ok(!servers.serviceLog().includes(SERVICE_TOKEN));
});
