// /demo: a mini program page, played in the browser on the real SDK.
//
// The SDK is `wxlogin-miniprogram`'s own ES module, served by `wxlogin dev` from the package
// directory (/demo/sdk/), not a copy; `wx` is the browser stand-in of wx-shim.js. What the
// page does is what a mini program page does: log in, share the phone number, choose an
// avatar and a nickname, call a protected route, ask for a subscribe message and receive it
// after the server's own protected action ("ship my order"), buy something with WeChat Pay,
// log out.

import { createWx, yuan } from './wx-shim.js';
import { createTimeline, followServer } from './timeline.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const timeline = createTimeline(/** @type {HTMLOListElement} */ ($('timeline')));
const statusLine = $('status');

function showStatus(text, isError) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', Boolean(isError));
}

function phoneSays(kind, title, detail, failed) {
  timeline.add({ at: Date.now(), side: 'miniprogram', kind, title, detail, failed });
}

/** How an SDK error reads: its class, its server code when it has one, its message. */
function describe(error) {
  const name = (error && error.name) || 'Error';
  const code = error && error.code ? ' [' + error.code + ']' : '';
  return name + code + ': ' + ((error && error.message) || String(error));
}

// ------------------------------------------------------------------ the user card

function render(user) {
  const card = $('user-card');
  const avatar = /** @type {HTMLImageElement} */ ($('avatar'));
  card.dataset.state = user ? 'in' : 'out';
  if (!user) {
    $('nickname-shown').replaceChildren('未登录 ', Object.assign(document.createElement('span'), { className: 'en', textContent: 'Not logged in' }));
    $('user-id').textContent = '—';
    $('phone').textContent = '—';
    $('openid').textContent = '—';
    avatar.hidden = true;
    avatar.removeAttribute('src');
    $('avatar-empty').hidden = false;
    return;
  }
  $('nickname-shown').textContent = user.nickname || '微信用户 (no nickname yet)';
  $('user-id').textContent = user.id;
  $('phone').textContent = user.phone || '未绑定 not bound';
  const identity = (user.identities || [])[0];
  $('openid').textContent = identity ? identity.openid : '—';
  // Only our server's avatar files are shown (the page's CSP would refuse others anyway).
  if (typeof user.avatar_url === 'string' && /^https?:\/\//.test(user.avatar_url)) {
    if (avatar.getAttribute('src') !== user.avatar_url) avatar.src = user.avatar_url;
    avatar.hidden = false;
    $('avatar-empty').hidden = true;
  } else {
    avatar.hidden = true;
    avatar.removeAttribute('src');
    $('avatar-empty').hidden = false;
  }
}

// ------------------------------------------------------------------ a generated avatar

function drawnAvatar(name) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 128;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  let hue = 0;
  for (const char of name) hue = (hue * 31 + char.codePointAt(0)) % 360;
  ctx.fillStyle = 'hsl(' + hue + ', 60%, 55%)';
  ctx.fillRect(0, 0, 128, 128);
  ctx.fillStyle = '#fff';
  ctx.font = 'bold 72px sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText((name[0] || '?').toUpperCase(), 64, 70);
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('the canvas gave no image'))), 'image/png');
  });
}

// ------------------------------------------------------------------ subscribe messages

// What the page's own template says, as WeChat shows it (the page knows what it asks for).
const NOTICE_TITLE = '订单发货提醒 Order shipped';
const KEYWORD_LABELS = { thing1: '订单状态 status', time2: '发货时间 shipped at' };

/** WeChat's subscribe dialog, as a sheet over the phone: resolves with the user's choice. */
function askSubscribe(ids) {
  return new Promise((resolve) => {
    const sheet = $('subscribe-sheet');
    $('subscribe-list').replaceChildren(
      ...ids.map((id) => Object.assign(document.createElement('li'), { textContent: NOTICE_TITLE + ' (' + id + ')' })),
    );
    sheet.hidden = false;
    const choose = (choice) => {
      sheet.hidden = true;
      $('subscribe-accept').onclick = null;
      $('subscribe-reject').onclick = null;
      resolve(choice);
    };
    $('subscribe-accept').onclick = () => choose('accept');
    $('subscribe-reject').onclick = () => choose('reject');
  });
}

/** The newest message the simulator delivered to this person, shown as the phone shows it. */
function showNotice(message) {
  $('inbox-title').textContent = NOTICE_TITLE;
  const rows = [];
  for (const [keyword, value] of Object.entries(message.data || {})) {
    rows.push(Object.assign(document.createElement('dt'), { textContent: KEYWORD_LABELS[keyword] || keyword }));
    rows.push(Object.assign(document.createElement('dd'), { textContent: String(value) }));
  }
  $('inbox-data').replaceChildren(...rows);
  $('inbox-foot').textContent = message.template_id + (message.page ? ' → ' + message.page : '');
  $('inbox').hidden = false;
  // On top of the phone's screen, where a notification is seen: bring it into view.
  $('inbox').scrollIntoView({ block: 'nearest' });
}

// ------------------------------------------------------------------ the shop (WeChat Pay)

const PAY_WORDS = {
  paid: '已支付 paid',
  cancelled: '已取消 cancelled: not paid',
  failed: '支付失败 failed: not paid',
  pending: '确认中 pending: the server has not seen the payment yet',
};

/** WeChat's pay sheet over the phone, with what WeChat Pay holds: resolves with the choice. */
function askPay(sheet) {
  return new Promise((resolve) => {
    $('pay-amount').textContent = yuan(sheet.total);
    $('pay-what').textContent = sheet.description + ' · 商户 merchant ' + sheet.mchid;
    $('pay-sheet').hidden = false;
    const buttons = { success: $('pay-confirm'), cancel: $('pay-cancel'), fail: $('pay-fail') };
    for (const [choice, button] of Object.entries(buttons)) {
      button.onclick = () => {
        $('pay-sheet').hidden = true;
        for (const each of Object.values(buttons)) each.onclick = null;
        resolve(choice);
      };
    }
  });
}

/** The last order, as the server last told it. */
function showOrder(order) {
  const line = $('order-line');
  line.textContent = '订单 order ' + order.id + ': ' + order.description + ' ' + yuan(order.amount) + ' · ' + order.state;
  line.dataset.state = order.state;
  line.hidden = false;
}

/** An answer that is not the one hoped for, as an error the status line can show. */
function serverError(answer) {
  const error = (answer.data && answer.data.error) || {};
  return Object.assign(new Error(error.message || 'HTTP ' + answer.statusCode), { name: 'ServerError', code: error.code });
}

// ------------------------------------------------------------------ start

async function start() {
  const configAnswer = await fetch('/demo/config.json', { cache: 'no-store' });
  const config = await configAnswer.json();
  followServer(timeline, (text) => {
    $('feed-state').textContent = text;
  }, config.feed_last);

  let skewMs = 0; // the phone's clock runs ahead after "skip ahead"
  const phoneNow = () => Date.now() + skewMs;
  const showClock = () => {
    const now = new Date(phoneNow());
    $('phone-clock').textContent = String(now.getHours()).padStart(2, '0') + ':' + String(now.getMinutes()).padStart(2, '0');
  };
  showClock();
  setInterval(showClock, 1000);

  const simUser = /** @type {HTMLInputElement} */ ($('sim-user'));
  const shim = createWx({
    appid: config.appid,
    user: () => simUser.value.trim() || 'alice',
    onCall: (call) => phoneSays(call.kind, call.title, call.detail, call.failed),
    askSubscribe,
    askPay,
  });

  let sdk;
  try {
    sdk = await import('/demo/sdk/index.mjs');
  } catch (error) {
    const missing = $('sdk-missing');
    missing.textContent = 'The SDK module could not be loaded (' + describe(error) + '). ' + (config.sdk_hint || '');
    missing.hidden = false;
    return;
  }
  const auth = sdk.createAuth({ baseUrl: location.origin, appid: config.appid, platformApi: shim.wx, now: phoneNow });
  auth.onChange((event) => {
    if (event.type === 'login') phoneSays('sdk_login', 'SDK: logged in', event.newUser ? 'a new user' : 'a returning user');
    else if (event.type === 'refresh') phoneSays('sdk_refresh', 'SDK: tokens refreshed', 'before the access token expired');
    else if (event.type === 'user') phoneSays('sdk_user', 'SDK: user updated', '');
    else if (event.type === 'logout') phoneSays('sdk_logout', 'SDK: logged out', event.reason === 'logout' ? 'by the user' : 'the server ended the session');
    render(event.type === 'logout' ? null : event.user);
  });
  render(auth.getUser());

  /** Run one tap's work: the button waits, the outcome shows in the status line. */
  function onTap(button, what, work) {
    button.addEventListener('click', async (tap) => {
      tap.preventDefault();
      button.disabled = true;
      showStatus(what + ' …');
      try {
        const done = await work();
        showStatus(done || what + ' ✓');
      } catch (error) {
        showStatus(what + ' ✗ ' + describe(error), true);
      } finally {
        button.disabled = false;
      }
    });
  }

  onTap($('login'), '微信登录 login', async () => {
    const { user, newUser } = await auth.login();
    render(user);
    return '已登录 logged in (' + (newUser ? 'new user' : 'returning user') + ')';
  });

  onTap($('phone-button'), '手机号 phone', async () => {
    render(await auth.bindPhone(await shim.phoneButtonEvent('ok')));
  });
  onTap($('phone-deny'), '拒绝 deny', async () => {
    await auth.bindPhone(await shim.phoneButtonEvent('deny'));
  });

  const avatarFile = /** @type {HTMLInputElement} */ ($('avatar-file'));
  async function uploadAvatar(image) {
    const event = shim.chooseAvatarEvent(image);
    render(await auth.uploadAvatar(event.detail.avatarUrl));
  }
  avatarFile.addEventListener('change', async () => {
    const file = avatarFile.files && avatarFile.files[0];
    avatarFile.value = '';
    if (!file) return;
    showStatus('头像 avatar …');
    try {
      await uploadAvatar(file);
      showStatus('头像 avatar ✓');
    } catch (error) {
      showStatus('头像 avatar ✗ ' + describe(error), true);
    }
  });
  onTap($('avatar-generate'), '头像 avatar', async () => {
    await uploadAvatar(await drawnAvatar(simUser.value.trim() || 'alice'));
  });

  const nickname = /** @type {HTMLInputElement} */ ($('nickname'));
  const profileForm = /** @type {HTMLFormElement} */ ($('profile-form'));
  onTap(/** @type {HTMLElement} */ (profileForm.querySelector('button[type=submit]')), '昵称 nickname', async () => {
    render(await auth.updateProfile({ nickname: nickname.value }));
  });
  profileForm.addEventListener('submit', (event) => event.preventDefault());

  const callResult = $('call-result');
  onTap($('call'), '受保护的接口 protected call', async () => {
    callResult.textContent = '…';
    const answer = await auth.request({ url: '/me' });
    const data = answer.data || {};
    callResult.textContent = 'GET /me → HTTP ' + answer.statusCode + '\n' +
      JSON.stringify(answer.statusCode === 200 ? { id: data.id, phone: data.phone, nickname: data.nickname } : data, null, 1);
    if (answer.statusCode === 200) render(data);
  });

  // Accepts this page has seen and not yet used: after a payment the server notifies only then
  // (a user who never said yes is not sent anything; WeChat would refuse it with 43101 anyway).
  let acceptsLeft = 0;

  onTap($('notify'), '通知我 notify me', async () => {
    // The first thing the tap does, before any await: WeChat opens the dialog only from the tap.
    const results = await auth.requestSubscribe([config.notify_template]);
    const answer = results[config.notify_template] || 'no answer';
    phoneSays('sdk_subscribe', 'SDK: requestSubscribe', config.notify_template + ' → ' + answer, answer !== 'accept');
    if (answer === 'accept') acceptsLeft += 1;
    return answer === 'accept' ? '已订阅 subscribed: the server may notify you once' : '未订阅 not subscribed (' + answer + ')';
  });

  // The server's own protected action; afterwards it tells the user (a subscribe message).
  onTap($('ship'), '发货 ship', deliverNotice);

  /** The demo's backend sends the message (POST /demo/notify); the phone shows it. */
  async function deliverNotice() {
    const answer = await auth.request({ url: '/demo/notify', method: 'POST' });
    if (answer.statusCode !== 200) {
      const error = serverError(answer);
      if (error.code === 'not_subscribed') error.message += ' — tap 通知我 Notify me first (each accept allows one message)';
      throw error;
    }
    const person = await fetch('/__sim/users/' + encodeURIComponent(simUser.value.trim() || 'alice'), {
      cache: 'no-store',
      credentials: 'omit',
    }).then((reply) => reply.json());
    const messages = Array.isArray(person.messages) ? person.messages : [];
    const latest = messages[messages.length - 1];
    if (!latest) throw new Error('the simulator shows no message delivered');
    acceptsLeft = Math.max(0, acceptsLeft - 1);
    showNotice(latest);
    phoneSays('message_shown', '服务通知 notification shown', latest.template_id + ', ' + Object.keys(latest.data || {}).length + ' keyword(s)');
    return '通知已送达 notified';
  }

  // The shop: the page names the item; the demo's stand-in for the host app's backend makes
  // the order at its own price (POST /demo/buy); the SDK pays it and asks the server after.
  $('shop').hidden = !config.pay;
  for (const item of config.pay ? config.catalogue || [] : []) {
    const button = Object.assign(document.createElement('button'), { type: 'button', id: 'buy-' + item.id, disabled: true });
    button.textContent = item.name + ' ' + yuan(item.price);
    $('shop-items').append(button);
    onTap(button, '购买 buy', async () => {
      const answer = await auth.request({ url: '/demo/buy', method: 'POST', data: { item: item.id } });
      if (answer.statusCode !== 201) throw serverError(answer);
      const order = answer.data;
      showOrder(order);
      const result = await auth.pay(order.id);
      const server = result.order ? ' (the server says ' + result.order.state + ')' : '';
      phoneSays('sdk_pay', 'SDK: pay', order.id + ' → ' + result.status + server, result.status !== 'paid');
      if (result.order) showOrder(result.order);
      const words = PAY_WORDS[result.status] || result.status;
      if (result.status !== 'paid' || acceptsLeft === 0) return words;
      // Paid, and the user asked to be told: the server notifies them now.
      try {
        return words + ' · ' + (await deliverNotice());
      } catch (error) {
        phoneSays('message_missing', 'no notification', describe(error), true);
        return words;
      }
    });
  }

  const skipSeconds = Number(config.access_token_ttl) || 900;
  $('skip').querySelector('.en').textContent = 'Skip ' + Math.round(skipSeconds / 60) + ' min (phone clock)';
  onTap($('skip'), '快进 skip', async () => {
    skewMs += skipSeconds * 1000;
    showClock();
    phoneSays('clock_skip', 'phone clock +' + Math.round(skipSeconds / 60) + ' min', 'the access token now looks due: the next call refreshes first');
  });

  onTap($('logout'), '退出登录 logout', async () => {
    await auth.logout();
    render(null);
    callResult.textContent = '';
    return '已退出 logged out';
  });

  onTap($('clear'), '清空 clear', async () => {
    timeline.clear();
  });

  for (const control of document.querySelectorAll('button, input[type=file]')) {
    /** @type {HTMLButtonElement} */ (control).disabled = false;
  }
  document.body.dataset.ready = 'true';
}

start().catch((error) => showStatus('页面启动失败 the page could not start: ' + describe(error), true));
