// /demo in a real browser: Debian's chromium, driven by playwright-core, against a real
// `wxlogin dev` process. It clicks through a mini program's life — log in, share the phone
// number, choose an avatar and a nickname, call a protected route, ask for and receive a
// subscribe message, buy with WeChat Pay (pay, and cancel), be told after paying, refresh,
// log out — and checks what the page shows against what the server and the simulator say,
// and that the timeline tells both sides of each step.
//
// Screenshots of each step go to tests/browser/artifacts/ (WXLOGIN_BROWSER_ARTIFACTS
// overrides it), with the dev server's log; the path is printed at the end.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { announceSkip, launchChromium, missingBrowser, underCI } from './chromium.mjs';
import { APPID, startDev } from './dev-server.mjs';
import { stripedPng } from './png.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = resolve(process.env.WXLOGIN_BROWSER_ARTIFACTS || join(here, 'artifacts'));
const WAIT_MS = 15_000;
const SIM_USER = 'alice';
const NICKNAME = '小明 Xiaoming';
const AVATAR_SIZE = 96;
// WeChat's API host: nothing the page loads may name it (the page talks to wxlogin only).
const WECHAT_API_HOST = ['api', 'weixin', 'qq', 'com'].join('.');

const unavailable = await missingBrowser();
if (unavailable && underCI()) {
  // A green CI run that never opened a browser would be a lie.
  test('the browser test runs under CI', () => {
    assert.fail(`CI=true but the browser test cannot run: ${unavailable}`);
  });
} else if (unavailable) {
  announceSkip(unavailable);
  test('/demo in chromium', { skip: unavailable }, () => {});
} else {
  defineTests();
}

function defineTests() {
  /** @type {Awaited<ReturnType<typeof startDev>>} */
  let dev;
  /** @type {Awaited<ReturnType<typeof launchChromium>>} */
  let browser;
  /** @type {import('playwright-core').Page} */
  let page;
  const requested = [];
  const problems = [];
  const bodies = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dev = await startDev();
    browser = await launchChromium();
    page = browser.context.pages()[0] || (await browser.context.newPage());
    page.setDefaultTimeout(WAIT_MS);
    browser.context.on('request', (request) => requested.push(request.url()));
    browser.context.on('response', async (response) => {
      const type = response.headers()['content-type'] || '';
      if (/json|javascript|html|css|text/.test(type)) {
        bodies.push({ url: response.url(), text: await response.text().catch(() => '') });
      }
    });
    browser.context.on('response', (response) => {
      // 4xx are answers the SDK handles (and the timeline shows); a 5xx is a server bug.
      if (response.status() >= 500) problems.push(`HTTP ${response.status()} from ${response.url()}`);
    });
    page.on('console', (message) => {
      // Chrome logs every 4xx/5xx fetch as "Failed to load resource"; those are judged above.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push('console: ' + message.text());
      }
    });
    page.on('pageerror', (error) => problems.push('page error: ' + error.message));
  });

  after(async () => {
    if (browser) await browser.close();
    if (dev) {
      const stopped = await dev.stop();
      writeFileSync(join(ARTIFACTS, 'wxlogin-dev.log'), stopped.log);
      assert.equal(stopped.hung, false, 'wxlogin dev did not stop on Ctrl-C');
      assert.equal(stopped.code, 0, stopped.log);
      assert.doesNotMatch(stopped.log, /Traceback/);
      assert.ok(!stopped.log.includes(dev.secret), 'the AppSecret reached the dev log');
    }
    console.log(`browser test artifacts (screenshots, dev log): ${ARTIFACTS}`);
  });

  async function screenshot(name) {
    const path = join(ARTIFACTS, name);
    await page.screenshot({ path });
    return path;
  }

  /** The text of `selector` once it matches `pattern` (Playwright waits for it). */
  async function textOnceMatching(selector, pattern) {
    const element = page.locator(selector).filter({ hasText: pattern });
    await element.waitFor();
    return (await element.textContent()) || '';
  }

  /** The timeline's line of `kind` (waits until there is one), as {side, text}. */
  async function timelineLine(kind, nth = 0) {
    const line = page.locator(`#timeline li[data-kind="${kind}"]`).nth(nth);
    await line.waitFor();
    return { side: await line.getAttribute('data-side'), text: (await line.textContent()) || '' };
  }

  async function simulatedPerson(user) {
    const answer = await fetch(`${dev.simUrl}/__sim/users/${encodeURIComponent(user)}`);
    assert.equal(answer.status, 200);
    return answer.json();
  }

  test('the page opens with everything from wxlogin itself', async () => {
    const answer = await page.goto(dev.demoUrl);
    assert.equal(answer?.status(), 200);
    const policy = answer?.headers()['content-security-policy'] || '';
    assert.match(policy, /default-src 'none'/);
    assert.match(policy, /script-src 'self';/);
    await page.locator('body[data-ready="true"]').waitFor();
    assert.equal(await page.locator('#user-card').getAttribute('data-state'), 'out');
    // The SDK is the package's own module, served from its directory.
    assert.ok(requested.some((url) => url === `${dev.origin}/demo/sdk/index.mjs`), requested.join('\n'));
    assert.ok(requested.some((url) => url === `${dev.origin}/demo/sdk/auth.mjs`), requested.join('\n'));
  });

  test('log in: the code is minted, traded, the user created, tokens issued', async () => {
    await page.locator('#sim-user').fill(SIM_USER);
    await page.locator('#login').click();
    const userId = (await textOnceMatching('#user-id', /^[A-Za-z0-9_-]{8,}$/)).trim();
    await textOnceMatching('#status', /logged in \(new user\)/);

    const person = await simulatedPerson(SIM_USER);
    const openid = person.apps[APPID].openid;
    assert.equal((await page.locator('#openid').textContent())?.trim(), openid);

    // The phone's wx.login and the simulator's minted code are the same code.
    const phoneLogin = await timelineLine('wx_login');
    const minted = await timelineLine('code_minted');
    const prefix = /code (\S{6})…/.exec(phoneLogin.text)?.[1];
    assert.ok(prefix, phoneLogin.text);
    assert.equal(phoneLogin.side, 'miniprogram');
    assert.equal(minted.side, 'wechat');
    assert.ok(minted.text.includes(prefix + '…'), minted.text);
    const traded = await timelineLine('code2session');
    assert.ok(traded.text.includes(prefix + '…'), traded.text);
    assert.ok(traded.text.includes(openid.slice(0, 8)), traded.text);
    const created = await timelineLine('user_created');
    assert.equal(created.side, 'wxlogin');
    assert.ok(created.text.includes(userId), `${created.text} should name ${userId}`);
    await timelineLine('tokens_issued');
    await timelineLine('sdk_login');
    await screenshot('01-logged-in.png');
  });

  test('phone: the button\'s code becomes the simulated person\'s number', async () => {
    await page.locator('#phone-button').click();
    const { phone } = await simulatedPerson(SIM_USER);
    assert.match(phone, /^1\d{10}$/);
    await textOnceMatching('#phone', new RegExp('^' + phone + '$'));
    await timelineLine('phone_code_minted');
    await timelineLine('phone_number');
    const bound = await timelineLine('phone_bound');
    assert.ok(bound.text.includes(phone.slice(-4)), bound.text);
    assert.ok(!bound.text.includes(phone), 'the feed shows the number masked');

    // Saying no on the phone: the SDK's typed error, and the number stays.
    await page.locator('#phone-deny').click();
    await textOnceMatching('#status', /UserDeniedError/);
    assert.equal((await page.locator('#phone').textContent())?.trim(), phone);
  });

  test('avatar: the chosen image is uploaded, and shown from the server', async () => {
    await page.locator('#avatar-file').setInputFiles({
      name: 'avatar.png',
      mimeType: 'image/png',
      buffer: stripedPng(AVATAR_SIZE, AVATAR_SIZE, [7, 193, 96], [255, 255, 255]),
    });
    const served = page.waitForResponse((r) => r.url().startsWith(`${dev.origin}/avatars/`) && r.status() === 200);
    await page.waitForFunction(
      ({ prefix, size }) => {
        const image = /** @type {HTMLImageElement | null} */ (document.getElementById('avatar'));
        return Boolean(image && !image.hidden && image.src.startsWith(prefix) && image.complete && image.naturalWidth === size);
      },
      { prefix: `${dev.origin}/avatars/`, size: AVATAR_SIZE },
    );
    assert.match((await served).headers()['content-type'] || '', /^image\/png/);
    await timelineLine('choose_avatar');
    const upload = await timelineLine('wx_upload');
    assert.match(upload.text, /\/me\/avatar/);
    assert.match(upload.text, /HTTP 200/);
    await timelineLine('avatar_stored');

    // A drawn one replaces it: a new file at a new URL (a name is never reused).
    const first = await page.locator('#avatar').getAttribute('src');
    await page.locator('#avatar-generate').click();
    await page.waitForFunction(
      ({ prefix, previous }) => {
        const image = /** @type {HTMLImageElement | null} */ (document.getElementById('avatar'));
        return Boolean(image && image.src.startsWith(prefix) && image.src !== previous && image.complete && image.naturalWidth === 128);
      },
      { prefix: `${dev.origin}/avatars/`, previous: first },
    );
    await timelineLine('avatar_stored', 1);
    const gone = await fetch(/** @type {string} */ (first));
    assert.equal(gone.status, 404, 'the replaced avatar file is deleted');
  });

  test('nickname: saved from the form and shown', async () => {
    await page.locator('#nickname').fill(NICKNAME);
    await page.locator('#profile-form button[type=submit]').click();
    await textOnceMatching('#nickname-shown', new RegExp('^' + NICKNAME + '$'));
    // POST, which wx.request can send (it has no PATCH).
    await page.locator('#timeline li[data-kind="wx_request"]', { hasText: 'POST /me/profile' }).waitFor();
    const updated = await timelineLine('profile_updated');
    assert.match(updated.text, /nickname/);
  });

  test('protected call: GET /me answers the whole profile', async () => {
    await page.locator('#call').click();
    const shown = await textOnceMatching('#call-result', /HTTP 200/);
    const userId = (await page.locator('#user-id').textContent())?.trim() || '';
    const { phone } = await simulatedPerson(SIM_USER);
    assert.ok(shown.includes(userId), shown);
    assert.ok(shown.includes(phone), shown);
    assert.ok(shown.includes(NICKNAME), shown);
    // The screenshot of record: the logged-in user with phone, avatar and nickname.
    await screenshot('02-profile-complete.png');
  });

  test('notify me: without an accept the server\'s message is refused; after one, delivered once and shown', async () => {
    // The server's protected action before the user accepted anything: WeChat says 43101.
    await page.locator('#ship').click();
    await textOnceMatching('#status', /not_subscribed/);
    const refused = await timelineLine('message_not_sent');
    assert.equal(refused.side, 'wxlogin');
    assert.match(refused.text, /43101/);
    assert.equal(await page.locator('#inbox').isHidden(), true);

    // The tap opens WeChat's dialog; the user allows.
    await page.locator('#notify').click();
    await page.locator('#subscribe-sheet').waitFor();
    await screenshot('02a-subscribe-dialog.png');
    await page.locator('#subscribe-accept').click();
    await textOnceMatching('#status', /subscribed: the server may notify you once/);
    const recorded = await timelineLine('subscription_recorded');
    assert.equal(recorded.side, 'wechat');
    assert.match(recorded.text, /1 send\(s\) now allowed/);
    await timelineLine('sdk_subscribe');

    // The server ships the order and tells the user: the phone shows the message.
    await page.locator('#ship').click();
    await textOnceMatching('#inbox-data', /您的订单已发货/);
    await textOnceMatching('#status', /notified/);
    const delivered = await timelineLine('message_delivered');
    assert.equal(delivered.side, 'wechat');
    const sent = await timelineLine('message_sent');
    assert.equal(sent.side, 'wxlogin');
    await timelineLine('message_shown');
    const state = await (await fetch(`${dev.simUrl}/__sim/state`)).json();
    const alice = state.users.find((/** @type {any} */ u) => u.user === SIM_USER);
    assert.equal(alice.messages.length, 1);
    assert.equal(alice.messages[0].data.thing1, '您的订单已发货');
    assert.deepEqual(alice.subscriptions, {}, 'the accept is spent');
    // Neither side's timeline repeats the message's values.
    const timelineText = (await page.locator('#timeline li:not([data-side="miniprogram"])').allTextContents()).join(' ');
    assert.ok(!timelineText.includes('您的订单已发货'), timelineText);
    await screenshot('02b-notified.png');

    // One accept, one message: shipping again is refused.
    await page.locator('#ship').click();
    await page.locator('#timeline li[data-kind="message_not_sent"]').nth(1).waitFor();
    await textOnceMatching('#status', /not_subscribed/);
  });

  /** WeChat Pay's view of the order numbered `outTradeNo`, and the callbacks sent for it. */
  async function atWeChatPay(outTradeNo) {
    const state = await (await fetch(`${dev.simUrl}/__sim/state`)).json();
    return {
      order: state.orders.find((/** @type {any} */ o) => o.out_trade_no === outTradeNo),
      callbacks: state.callbacks.delivered.filter((/** @type {any} */ c) => c.out_trade_no === outTradeNo),
    };
  }

  /** The /demo/buy answer the page got for the latest purchase. */
  async function lastBought() {
    const bought = bodies.filter(({ url }) => url === `${dev.origin}/demo/buy`);
    return JSON.parse(bought[bought.length - 1].text);
  }

  test('buy: WeChat Pay\'s sheet shows the server\'s price; pay → paid, the callback told by both sides', async () => {
    await page.locator('#buy-coffee').click();
    await page.locator('#pay-sheet').waitFor();
    await textOnceMatching('#pay-amount', /^¥0\.01$/);
    await textOnceMatching('#pay-what', /咖啡 Coffee/);
    await screenshot('02c-pay-sheet.png');
    await page.locator('#pay-confirm').click();
    await textOnceMatching('#status', /已支付 paid/);
    await page.locator('#order-line[data-state="paid"]').waitFor();
    const order = await lastBought();
    assert.equal(order.amount, 1, 'the catalogue\'s price, set by the server');

    const created = await timelineLine('order_created');
    assert.equal(created.side, 'wxlogin');
    assert.ok(created.text.includes(order.id), created.text);
    const placed = await timelineLine('pay_order_placed');
    assert.equal(placed.side, 'wechat');
    assert.ok(placed.text.includes(order.out_trade_no), placed.text);
    await timelineLine('wx_pay_sheet');
    const sheet = await timelineLine('pay_sheet');
    assert.equal(sheet.side, 'wechat');
    assert.match(sheet.text, /pay sheet: paid/);
    const callback = await timelineLine('pay_callback');
    assert.equal(callback.side, 'wechat');
    assert.match(callback.text, /TRANSACTION\.SUCCESS/);
    const acknowledged = await timelineLine('pay_callback_acknowledged');
    assert.equal(acknowledged.side, 'wxlogin');
    assert.match(acknowledged.text, /HTTP 204/);
    const paid = await timelineLine('order_state');
    assert.equal(paid.side, 'wxlogin');
    assert.ok(paid.text.includes(`${order.id}: created → paid`), paid.text);
    const told = await timelineLine('sdk_pay');
    assert.match(told.text, /→ paid/);

    const wechatPay = await atWeChatPay(order.out_trade_no);
    assert.equal(wechatPay.order.trade_state, 'SUCCESS');
    assert.equal(wechatPay.order.total, 1);
    assert.ok(wechatPay.callbacks.some((c) => c.acknowledged && c.status === 204), JSON.stringify(wechatPay.callbacks));
    // The paySign went to wx.requestPayment, and nowhere on the timeline.
    const params = bodies.find(({ url }) => url === `${dev.origin}/pay/orders/${order.id}/params`);
    const { paySign } = JSON.parse(/** @type {{text: string}} */ (params).text);
    const timelineText = (await page.locator('#timeline').textContent()) || '';
    assert.ok(!timelineText.includes(paySign.slice(0, 24)), 'the paySign reached the timeline');
    await screenshot('02d-paid.png');
  });

  test('buy, then cancel at the sheet: not paid, no callback', async () => {
    const sheetsBefore = await page.locator('#timeline li[data-kind="pay_sheet"]').count();
    await page.locator('#buy-tea').click();
    await page.locator('#pay-sheet').waitFor();
    await textOnceMatching('#pay-amount', /^¥0\.02$/);
    await page.locator('#pay-cancel').click();
    await textOnceMatching('#status', /已取消 cancelled/);
    await page.locator('#order-line[data-state="created"]').waitFor();
    const cancelled = await timelineLine('pay_sheet', sheetsBefore);
    assert.match(cancelled.text, /pay sheet: cancelled/);
    await page.locator('#timeline li[data-kind="sdk_pay"]', { hasText: '→ cancelled' }).waitFor();
    const order = await lastBought();
    const wechatPay = await atWeChatPay(order.out_trade_no);
    assert.equal(wechatPay.order.trade_state, 'NOTPAY');
    assert.deepEqual(wechatPay.callbacks, []);
    assert.equal(await page.locator('#timeline li[data-kind="pay_callback"]').count(), 1, 'only the first order\'s');
  });

  test('accept → pay → the server notifies: the message arrives with the payment', async () => {
    const messagesBefore = (await simulatedPerson(SIM_USER)).messages.length;
    const deliveredBefore = await page.locator('#timeline li[data-kind="message_delivered"]').count();
    await page.locator('#notify').click();
    await page.locator('#subscribe-sheet').waitFor();
    await page.locator('#subscribe-accept').click();
    await textOnceMatching('#status', /subscribed: the server may notify you once/);

    await page.locator('#buy-coffee').click();
    await page.locator('#pay-sheet').waitFor();
    await page.locator('#pay-confirm').click();
    await textOnceMatching('#status', /已支付 paid · 通知已送达 notified/);
    await page.locator('#order-line[data-state="paid"]').waitFor();
    await page.locator('#timeline li[data-kind="message_delivered"]').nth(deliveredBefore).waitFor();

    const order = await lastBought();
    const wechatPay = await atWeChatPay(order.out_trade_no);
    assert.equal(wechatPay.order.trade_state, 'SUCCESS');
    const person = await simulatedPerson(SIM_USER);
    assert.equal(person.messages.length, messagesBefore + 1);
    assert.equal(person.messages.at(-1).data.thing1, '您的订单已发货');
    assert.deepEqual(person.subscriptions, {}, 'the accept is spent');
    await textOnceMatching('#inbox-data', /您的订单已发货/);
    await screenshot('02e-paid-and-notified.png');
  });

  test('refresh: with the phone clock past the token\'s life, the next call refreshes first', async () => {
    const callsBefore = await page.locator('#timeline li[data-kind="wx_request"]').count();
    await page.locator('#skip').click();
    await timelineLine('clock_skip');
    await page.locator('#call').click();
    await timelineLine('sdk_refresh');
    const rotated = await timelineLine('refresh_rotated');
    assert.equal(rotated.side, 'wxlogin');
    await page.locator('#timeline li[data-kind="wx_request"]').nth(callsBefore + 1).waitFor();
    await textOnceMatching('#call-result', /HTTP 200/);
    const refreshCall = page.locator('#timeline li[data-kind="wx_request"]', { hasText: '/auth/refresh' });
    assert.equal(await refreshCall.count(), 1);
  });

  test('log out: the session is revoked and the page is logged out', async () => {
    await page.locator('#logout').click();
    await page.locator('#user-card[data-state="out"]').waitFor();
    assert.equal((await page.locator('#user-id').textContent())?.trim(), '—');
    await timelineLine('sdk_logout');
    const revoked = await timelineLine('session_revoked');
    assert.equal(revoked.side, 'wxlogin');
    const stored = await page.evaluate(() => Object.keys(localStorage).filter((key) => localStorage.getItem(key)));
    assert.deepEqual(stored, [], 'logout leaves no session in storage');
    await screenshot('03-logged-out.png');
  });

  test('the page loaded nothing but wxlogin, and nothing secret', async () => {
    const foreign = requested.filter((url) => !url.startsWith(dev.origin + '/') && !url.startsWith('blob:') && !url.startsWith('data:'));
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
    for (const { url, text } of bodies) {
      assert.ok(!text.includes(dev.secret), `${url} carries the AppSecret`);
      assert.ok(!text.includes(WECHAT_API_HOST), `${url} names WeChat's API host`);
      assert.ok(!text.includes('PRIVATE KEY'), `${url} carries a private key`);
      // The key itself ("session_key": …); the simulator's "has_session_key": true is a flag.
      assert.ok(!/"session_key"\s*:/.test(text), `${url} carries a session_key`);
    }
    const timelineText = (await page.locator('#timeline').textContent()) || '';
    assert.ok(!/eyJ[A-Za-z0-9_-]{20,}/.test(timelineText), 'a token reached the timeline');
  });
}
