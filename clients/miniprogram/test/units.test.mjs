// The pure parts, without servers: what the SDK accepts from a server, and single-flight.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parsedBody, readNewUser, readTokens, readUser } from '../src/answers.mjs';
import { BadResponseError, ServerError, serverErrorOf } from '../src/errors.mjs';
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
