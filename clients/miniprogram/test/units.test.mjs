// The pure parts, without servers: what the SDK accepts from a server, single-flight, and how
// a payment's outcome is decided from the sheet and the server's word.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parsedBody, readNewUser, readTokens, readUser } from '../src/answers.mjs';
import { BadResponseError, NetworkError, ServerError, serverErrorOf } from '../src/errors.mjs';
import { checkedDelays, payOrder, readOrder, readPaymentParams } from '../src/pay.mjs';
import { lifetime } from '../src/session.mjs';
import { singleFlight } from '../src/single-flight.mjs';

const GOOD = { access_token: 'a.b.c', token_type: 'Bearer', expires_in: 900, refresh_token: 's.t' };

test('readTokens takes a well-formed answer', () => {
  assert.deepEqual(readTokens(GOOD, 200, 'login'), { accessToken: 'a.b.c', refreshToken: 's.t', expiresIn: 900 });
  assert.equal(readTokens({ ...GOOD, token_type: 'bearer' }, 200, 'login').accessToken, 'a.b.c');
});

test('readTokens refuses what must not reach storage or a header', () => {
  const broken = [
    null,
    'a.b.c',
    [],
    { ...GOOD, access_token: undefined },
    { ...GOOD, access_token: '' },
    { ...GOOD, access_token: 42 },
    { ...GOOD, access_token: 'a b' }, // whitespace: header injection
    { ...GOOD, access_token: 'a\r\nX-Evil: 1' },
    { ...GOOD, access_token: 'x'.repeat(4097) },
    { ...GOOD, refresh_token: null },
    { ...GOOD, token_type: 'MAC' },
    { ...GOOD, expires_in: 0 },
    { ...GOOD, expires_in: -5 },
    { ...GOOD, expires_in: '900' },
    { ...GOOD, expires_in: Infinity },
  ];
  for (const body of broken) {
    assert.throws(() => readTokens(body, 200, 'login'), BadResponseError, JSON.stringify(body));
  }
});

test('readUser wants an id, an identities list and text fields', () => {
  const user = { id: 'u1', unionid: null, identities: [], phone: null, nickname: '小明', avatar_url: null };
  assert.equal(readUser(user, 200, 'me').id, 'u1');
  for (const body of [null, {}, { ...user, id: '' }, { ...user, identities: null }, { ...user, phone: 138 }]) {
    assert.throws(() => readUser(body, 200, 'me'), BadResponseError);
  }
  assert.equal(readNewUser({ new_user: false }, 200), false);
  assert.throws(() => readNewUser({ new_user: 'no' }, 200), BadResponseError);
});

test('serverErrorOf: the error body, or a code made from the status for anything else', () => {
  const known = serverErrorOf(400, { error: { code: 'code_used', message: 'used', wechat_errcode: 40163 } });
  assert.ok(known instanceof ServerError);
  assert.deepEqual([known.status, known.code, known.serverMessage, known.wechatErrcode], [400, 'code_used', 'used', 40163]);
  const gateway = serverErrorOf(502, '<html>Bad Gateway</html>');
  assert.deepEqual([gateway.status, gateway.code], [502, 'http_502']);
  assert.equal(serverErrorOf(500, { error: 'text' }).code, 'http_500');
});

test('parsedBody: wx.uploadFile text becomes JSON when it is JSON', () => {
  assert.deepEqual(parsedBody('{"a":1}'), { a: 1 });
  assert.equal(parsedBody('not json'), 'not json');
  assert.equal(parsedBody(''), null);
  assert.deepEqual(parsedBody({ a: 1 }), { a: 1 });
});

test('lifetime: refresh a margin before expiry, never in the first half of a short life', () => {
  assert.deepEqual(lifetime(1000, 900, 60_000), { expiresAt: 901_000, refreshAt: 841_000 });
  assert.deepEqual(lifetime(0, 60, 60_000), { expiresAt: 60_000, refreshAt: 30_000 });
});

test('singleFlight: callers share one run; a failure is forgotten at once', async () => {
  let runs = 0;
  /** @type {(value: string) => void} */
  let finish = () => {};
  /** @type {() => void} */
  let markStarted = () => {};
  const started = new Promise((resolve) => {
    markStarted = () => resolve(undefined);
  });
  const flight = singleFlight(() => {
    runs += 1;
    markStarted();
    return new Promise((resolve) => {
      finish = resolve;
    });
  });
  const both = Promise.all([flight.run(), flight.run()]);
  await started;
  assert.equal(flight.running, true);
  assert.equal(flight.run(), flight.run()); // the very same promise
  finish('one');
  assert.deepEqual(await both, ['one', 'one']);
  assert.equal(runs, 1);
  assert.equal(flight.running, false);

  let attempts = 0;
  const failing = singleFlight(async () => {
    attempts += 1;
    if (attempts === 1) throw new Error('first attempt fails');
    return 'second';
  });
  await assert.rejects(failing.run(), /first attempt fails/);
  assert.equal(failing.running, false); // no stuck flag
  assert.equal(await failing.run(), 'second');
  // A synchronous throw is a rejection too, and is forgotten the same way.
  const throwing = singleFlight(() => {
    throw new Error('sync');
  });
  await assert.rejects(throwing.run(), /sync/);
  assert.equal(throwing.running, false);
});

const PARAMS = { timeStamp: '1796146594', nonceStr: 'N0', package: 'prepay_id=wx1', signType: 'RSA', paySign: 'c2ln' };

/**
 * payOrder over scripted steps: the sheet's answer, and the server's states in turn (an Error
 * for a look that fails).
 *
 * @param {{ok: boolean, errMsg: string}} sheet
 * @param {(string | Error)[]} states
 * @param {number[]} [delays]
 */
async function scripted(sheet, states, delays = [1, 2, 3]) {
  const waits = [];
  let looks = 0;
  const result = await payOrder({
    params: async () => PARAMS,
    requestPayment: async () => sheet,
    order: async () => {
      const next = states[Math.min(looks, states.length - 1)];
      looks += 1;
      if (next instanceof Error) throw next;
      return readOrder({ id: 'o1', state: next, amount: 1 }, 200);
    },
    delays,
    wait: async (ms) => {
      waits.push(ms);
    },
  });
  return { status: result.status, state: result.order && result.order.state, looks, waits };
}

const OK = { ok: true, errMsg: 'requestPayment:ok' };
const CANCEL = { ok: false, errMsg: 'requestPayment:fail cancel' };
const FAIL = { ok: false, errMsg: 'requestPayment:fail system error' };

test('payOrder: the server\'s word wins over the sheet\'s', async () => {
  // A signature problem can surface as "fail cancel": an order the server says is paid is paid.
  assert.deepEqual(await scripted(CANCEL, ['paid']), { status: 'paid', state: 'paid', looks: 1, waits: [] });
  assert.deepEqual(await scripted(FAIL, ['refunded']), { status: 'paid', state: 'refunded', looks: 1, waits: [] });
  assert.deepEqual(await scripted(OK, ['created', 'created', 'paid']), { status: 'paid', state: 'paid', looks: 3, waits: [1, 2] });
  assert.deepEqual(await scripted(CANCEL, ['created']), { status: 'cancelled', state: 'created', looks: 1, waits: [] });
  assert.deepEqual(await scripted(FAIL, ['created']), { status: 'failed', state: 'created', looks: 1, waits: [] });
});

test('payOrder: after ok, bounded looks, then pending; a closed order failed', async () => {
  assert.deepEqual(await scripted(OK, ['created']), { status: 'pending', state: 'created', looks: 4, waits: [1, 2, 3] });
  assert.deepEqual(await scripted(OK, ['created'], []), { status: 'pending', state: 'created', looks: 1, waits: [] });
  assert.deepEqual(await scripted(OK, ['created', 'closed']), { status: 'failed', state: 'closed', looks: 2, waits: [1] });
});

test('payOrder: a look that fails after the sheet is not an error', async () => {
  const offline = new NetworkError('request:fail timeout');
  assert.deepEqual(await scripted(OK, [offline]), { status: 'pending', state: null, looks: 4, waits: [1, 2, 3] });
  assert.deepEqual(await scripted(OK, [offline, 'paid']), { status: 'paid', state: 'paid', looks: 2, waits: [1] });
  // The last state learnt stands when a later look fails.
  assert.deepEqual(await scripted(OK, ['created', offline]), { status: 'pending', state: 'created', looks: 4, waits: [1, 2, 3] });
  assert.deepEqual(await scripted(CANCEL, [offline]), { status: 'cancelled', state: null, looks: 1, waits: [] });
});

test('payOrder: no parameters, no sheet: the error is the answer', async () => {
  const refused = new ServerError(409, 'order_not_payable', 'the order is already paid', undefined);
  let opened = false;
  const paying = payOrder({
    params: async () => {
      throw refused;
    },
    requestPayment: async () => {
      opened = true;
      return OK;
    },
    order: async () => readOrder({ id: 'o1', state: 'paid' }, 200),
    delays: [],
    wait: async () => {},
  });
  await assert.rejects(paying, (error) => error === refused);
  assert.equal(opened, false);
});

test('readPaymentParams and readOrder refuse what cannot be used', () => {
  assert.deepEqual(readPaymentParams(PARAMS, 200), PARAMS);
  for (const body of [null, [], { ...PARAMS, paySign: '' }, { ...PARAMS, timeStamp: 1796146594 }, { ...PARAMS, package: 'wx1' }]) {
    assert.throws(() => readPaymentParams(body, 200), BadResponseError, JSON.stringify(body));
  }
  for (const body of [null, { id: 'o1' }, { id: 'o1', state: 'PAID' }, { state: 'paid' }]) {
    assert.throws(() => readOrder(body, 200), BadResponseError, JSON.stringify(body));
  }
});

test('checkedDelays: a bounded list of waits', () => {
  assert.deepEqual(checkedDelays(undefined), [500, 1000, 2000, 4000]);
  assert.deepEqual(checkedDelays([]), []);
  for (const bad of [[-1], [Infinity], new Array(11).fill(1), [30001], ['5'], 5]) {
    assert.throws(() => checkedDelays(bad), TypeError, JSON.stringify(bad));
  }
});
