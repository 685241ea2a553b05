// WeChat Pay end to end on a real `wxlogin dev` (its merchant wired on both sides): the host
// app's backend creates the order with its service token, `auth.pay` fetches the signed
// parameters, the fake wx plays the pay sheet at the simulator (POST /__sim/pay), and the
// server's word on the order decides — paid (the callback came back), cancelled, failed, a
// paid order not payable again, and 'pending' when the sheet said ok but nothing was paid.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { PAY_STATUSES, ServerError } from '../src/index.mjs';
import { simulatorControl } from './harness.mjs';
import { http, newClient, storedSession, test, useServers, waitUntil } from './support.mjs';

// The host app's backend credential, made up per run (no secret is written down in clients/).
const SERVICE_TOKEN = randomBytes(32).toString('base64url');
const servers = useServers({ dev: true, env: { WXLOGIN_SERVICE_TOKENS: SERVICE_TOKEN } });
// Short waits between the SDK's looks at an unpaid order: the test's time, not the logic's.
const QUICK_CHECKS = [10, 20, 40];

/**
 * What the host app's backend does when the user buys: POST /pay/orders with its token. The
 * amount is the backend's own; the mini program only ever names the order.
 *
 * @param {ReturnType<typeof newClient>} client
 * @param {number} [amount] fen
 */
async function orderFor(client, amount = 1) {
  const { user } = await client.auth.login();
  const answer = await http(`${servers.apiUrl}/pay/orders`, {
    method: 'POST',
    token: SERVICE_TOKEN,
    json: { user_id: user.id, amount, description: '咖啡 Coffee' },
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body;
}

/** @param {string} outTradeNo WeChat Pay's view of the order, and its callbacks */
async function atWeChatPay(outTradeNo) {
  const state = await simulatorControl(servers.simUrl, '/__sim/state', undefined);
  return {
    order: state.orders.find((/** @type {any} */ o) => o.out_trade_no === outTradeNo),
    callbacks: state.callbacks.delivered.filter((/** @type {any} */ c) => c.out_trade_no === outTradeNo),
    queries: state.requests['/v3/pay/transactions/out-trade-no/{out_trade_no}'] || 0,
  };
}

test('paid: the sheet pays, WeChat Pay\'s callback reaches the server, the order is paid', async () => {
  const client = newClient(servers);
  const order = await orderFor(client, 1);
  // The SDK's look at the order waits until the callback has been acknowledged, so what it
  // reads is the callback's doing (a recent unpaid order would be asked of WeChat Pay).
  const look = client.wx.holdNext(`/me/orders/${order.id}`, 'send');
  const paying = client.auth.pay(order.id);
  await look.arrived;
  await waitUntil(
    async () => (await atWeChatPay(order.out_trade_no)).callbacks.some((c) => c.acknowledged),
    'WeChat Pay\'s callback acknowledged by the server',
  );
  const before = await atWeChatPay(order.out_trade_no);
  look.release();
  const result = await paying;

  assert.equal(result.status, 'paid');
  assert.equal(result.errMsg, 'requestPayment:ok');
  assert.equal(result.order?.state, 'paid');
  assert.equal(result.order?.amount, 1);
  assert.equal(result.order?.transaction_id, before.order.transaction_id);
  assert.equal(before.order.trade_state, 'SUCCESS');
  assert.deepEqual(before.callbacks.map((c) => c.status), [204]);
  assert.equal((await atWeChatPay(order.out_trade_no)).queries, before.queries, 'no query was needed');
  // What reached wx.requestPayment is what the server signed, and nothing else.
  assert.equal(client.wx.payCalls.length, 1);
  const { package: pkg, signType, paySign, timeStamp, nonceStr } = client.wx.payCalls[0];
  assert.match(pkg, /^prepay_id=/);
  assert.equal(signType, 'RSA');
  assert.ok(paySign && timeStamp && nonceStr);
  assert.deepEqual(
    client.wx.calls.filter((c) => c.path !== '/auth/login').map((c) => [c.method, c.path, c.statusCode]),
    [
      ['POST', `/pay/orders/${order.id}/params`, 200],
      ['GET', `/me/orders/${order.id}`, 200],
    ],
  );
});

test('cancelled: the user closes the sheet; nothing is paid and the order can still be paid', async () => {
  const client = newClient(servers, { payCheckDelays: QUICK_CHECKS });
  const order = await orderFor(client);
  client.wx.payChoice = 'cancel';

  const cancelled = await client.auth.pay(order.id);

  assert.equal(cancelled.status, 'cancelled');
  assert.equal(cancelled.errMsg, 'requestPayment:fail cancel');
  assert.equal(cancelled.order?.state, 'created');
  assert.equal(client.wx.count(`/me/orders/${order.id}`, 'GET'), 1, 'one look after a cancel, no polling');
  assert.equal((await atWeChatPay(order.out_trade_no)).order.trade_state, 'NOTPAY');

  client.wx.payChoice = 'success';
  const paid = await client.auth.pay(order.id);
  assert.equal(paid.status, 'paid');
});

test('failed: the payment fails at the sheet; the order stays unpaid', async () => {
  const client = newClient(servers, { payCheckDelays: QUICK_CHECKS });
  const order = await orderFor(client);
  client.wx.payChoice = 'fail';

  const result = await client.auth.pay(order.id);

  assert.equal(result.status, 'failed');
  assert.match(result.errMsg, /^requestPayment:fail /);
  assert.equal(result.order?.state, 'created');
  assert.equal((await atWeChatPay(order.out_trade_no)).order.trade_state, 'PAYERROR');
});

test('a paid order again: 409 order_not_payable, and no sheet opens', async () => {
  const client = newClient(servers);
  const order = await orderFor(client);
  assert.equal((await client.auth.pay(order.id)).status, 'paid');

  await assert.rejects(client.auth.pay(order.id), (error) => {
    assert.ok(error instanceof ServerError);
    assert.equal(error.status, 409);
    assert.equal(error.code, 'order_not_payable');
    return true;
  });
  assert.equal(client.wx.payCalls.length, 1);
});

test('pending: the sheet says ok but WeChat Pay has no payment; asked again with growing waits, then pending', async () => {
  const client = newClient(servers, { payCheckDelays: QUICK_CHECKS });
  const order = await orderFor(client);
  client.wx.payChoice = 'ok-unpaid';
  const queries = (await atWeChatPay(order.out_trade_no)).queries;

  const result = await client.auth.pay(order.id);

  assert.equal(result.status, 'pending');
  assert.equal(result.errMsg, 'requestPayment:ok');
  assert.equal(result.order?.state, 'created');
  assert.equal(client.wx.count(`/me/orders/${order.id}`, 'GET'), 1 + QUICK_CHECKS.length);
  // Each look asked WeChat Pay (the order is recent and unpaid): nothing was paid there.
  assert.equal((await atWeChatPay(order.out_trade_no)).queries, queries + 1 + QUICK_CHECKS.length);
  assert.equal((await atWeChatPay(order.out_trade_no)).order.trade_state, 'NOTPAY');
});

test('a later look finds it paid: ok, unpaid at first, paid on the next check', async () => {
  const client = newClient(servers, { payCheckDelays: QUICK_CHECKS });
  const order = await orderFor(client);
  client.wx.payChoice = 'ok-unpaid';
  // The first look's answer ("created") is held back while WeChat Pay records the payment.
  const first = client.wx.holdNext(`/me/orders/${order.id}`, 'answer');
  const paying = client.auth.pay(order.id);
  await first.arrived;
  const { order: atSheet } = await atWeChatPay(order.out_trade_no);
  await simulatorControl(servers.simUrl, '/__sim/pay', {
    mchid: atSheet.mchid,
    out_trade_no: order.out_trade_no,
    outcome: 'success',
  });
  first.release();

  const result = await paying;

  assert.equal(result.status, 'paid');
  assert.equal(client.wx.count(`/me/orders/${order.id}`, 'GET'), 2);
});

test('uni-app: uni.requestPayment with provider wxpay', async () => {
  const client = newClient(servers, { platform: 'uni' });
  const order = await orderFor(client, 2);

  const result = await client.auth.pay(order.id);

  assert.equal(result.status, 'paid');
  assert.equal(client.wx.payCalls[0].provider, 'wxpay');
});

test('the parameters are fetched after one refresh when the stored token is refused', async () => {
  const storage = new Map();
  const first = newClient(servers, { storage });
  const order = await orderFor(first);
  const { key, value } = storedSession(storage);
  const broken = value.access_token.slice(0, -6) + (value.access_token.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
  storage.set(key, JSON.stringify({ ...value, access_token: broken }));
  const relaunched = newClient(servers, { user: first.user, storage });

  const result = await relaunched.auth.pay(order.id);

  assert.equal(result.status, 'paid');
  assert.deepEqual(
    relaunched.wx.calls.map((c) => [c.path, c.statusCode]),
    [
      [`/pay/orders/${order.id}/params`, 401],
      ['/auth/refresh', 200],
      [`/pay/orders/${order.id}/params`, 200],
      [`/me/orders/${order.id}`, 200],
    ],
  );
});

test('someone else\'s order, an unknown one, a malformed id: refused before any sheet', async () => {
  const owner = newClient(servers);
  const order = await orderFor(owner);
  const stranger = newClient(servers);
  await stranger.auth.login();

  for (const id of [order.id, 'NoSuchOrder0123']) {
    await assert.rejects(stranger.auth.pay(id), (error) => {
      assert.ok(error instanceof ServerError);
      assert.equal(error.code, 'not_found');
      return true;
    });
  }
  for (const id of ['', '../me', 42, undefined]) {
    await assert.rejects(stranger.auth.pay(/** @type {any} */ (id)), TypeError);
  }
  assert.equal(stranger.wx.payCalls.length, 0);
  assert.deepEqual([...PAY_STATUSES], ['paid', 'cancelled', 'failed', 'pending']);
});
