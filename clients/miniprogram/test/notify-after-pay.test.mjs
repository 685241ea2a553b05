// Acceptance, end to end on a real `wxlogin dev` (its merchant and its subscribe-message
// template declared on both sides): the user accepts a message from a tap, pays, and the host
// app's backend — once the order is paid — tells them; the message is delivered, once, and
// shows in the simulator's state next to the paid order.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { simulatorControl } from './harness.mjs';
import { http, newClient, test, useServers, waitUntil } from './support.mjs';

// The template `wxlogin dev` declares in its settings and registers in its simulator.
const SHIPPED = 'wxlogin-dev-order-shipped';
// The host app's backend credential, made up per run (no secret is written down in clients/).
const SERVICE_TOKEN = randomBytes(32).toString('base64url');
const servers = useServers({ dev: true, env: { WXLOGIN_SERVICE_TOKENS: SERVICE_TOKEN } });

/**
 * The host app's backend, with its service token.
 *
 * @param {string} path
 * @param {unknown} json
 */
function backend(path, json) {
  return http(`${servers.apiUrl}${path}`, { method: 'POST', token: SERVICE_TOKEN, json });
}

test('accept → pay → the server notifies → delivered, visible in /__sim/state; once', async () => {
  const client = newClient(servers);
  const { user } = await client.auth.login();

  // The buy button's tap: first the dialog (it opens only from the tap), then the order.
  const asked = await client.wx.tap(() => client.auth.requestSubscribe([SHIPPED]));
  assert.deepEqual(asked, { [SHIPPED]: 'accept' });
  const created = await backend('/pay/orders', { user_id: user.id, amount: 1, description: '咖啡 Coffee' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const order = created.body;

  // Pay; the SDK's look at the order waits until WeChat Pay's callback has reached the server.
  const look = client.wx.holdNext(`/me/orders/${order.id}`, 'send');
  const paying = client.auth.pay(order.id);
  await look.arrived;
  await waitUntil(async () => {
    const state = await simulatorControl(servers.simUrl, '/__sim/state', undefined);
    return state.callbacks.delivered.some((/** @type {any} */ c) => c.out_trade_no === order.out_trade_no && c.acknowledged);
  }, "WeChat Pay's callback acknowledged by the server");
  look.release();
  const paid = await paying;
  assert.equal(paid.status, 'paid');

  // The order is paid: the backend tells the user it ships.
  const data = { thing1: '您的订单已发货', time2: '2026年12月1日 10:00' };
  const message = { user_id: user.id, template_id: SHIPPED, data, page: `pages/order/index?id=${order.id}` };
  const sent = await backend('/messages', message);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));

  const state = await simulatorControl(servers.simUrl, '/__sim/state', undefined);
  const atWeChatPay = state.orders.find((/** @type {any} */ o) => o.out_trade_no === order.out_trade_no);
  assert.equal(atWeChatPay.trade_state, 'SUCCESS');
  const person = state.users.find((/** @type {any} */ u) => u.user === client.user);
  assert.deepEqual(
    person.messages.map((/** @type {any} */ m) => [m.template_id, m.data, m.page]),
    [[SHIPPED, data, `pages/order/index?id=${order.id}`]],
  );
  assert.deepEqual(person.subscriptions, {}, 'the accept is spent');

  // One accept, one message.
  const again = await backend('/messages', message);
  assert.equal(again.status, 403);
  assert.equal(again.body.error.code, 'not_subscribed');
  assert.equal(again.body.error.wechat_errcode, 43101);
});
