// A stand-in for the mini program's `wx` object, in a browser, over wxlogin dev's simulator.
//
// It keeps wx's contracts, because the SDK relies on them (shared/miniprogram-api.md):
// - wx.login: a fresh single-use code each call, minted by the simulator (POST /__sim/login,
//   which `wxlogin dev` forwards to its in-process simulator, so the page stays same-origin).
// - wx.request / wx.uploadFile: `success` for ANY HTTP status, 4xx and 5xx included; `fail`
//   only when no answer came (network trouble, timeout), with errMsg "request:fail ...".
//   wx.request sends only the methods in its documented list — no PATCH — and so does this,
//   though fetch could: a demo that worked only in a browser would mislead.
//   uploadFile's `data` is the raw body text, as wx gives it.
// - storage: getStorageSync answers "" for a key never set.
// - the phone button's event: {detail: {code, errMsg: "getPhoneNumber:ok"}} — a phone code,
//   which is not a login code — or {detail: {errMsg: "getPhoneNumber:fail user deny"}}.
// - chooseAvatar's event: {detail: {avatarUrl}}, a temporary local file path that only
//   wx.uploadFile can read.
// - wx.requestSubscribeMessage: only from a tap — here, while the browser's own user
//   activation from a click is live — else "can only be invoked by user TAP gesture"; 1-5
//   template ids; the dialog (the page's `askSubscribe`) is the user's to answer, and the
//   choice reaches WeChat (POST /__sim/subscriptions, forwarded like /__sim/login): each
//   accept lets the server send that template once. Answers {[tmplId]: 'accept' | 'reject'}.
// - wx.requestPayment: WeChat's pay sheet. WeChat's client learns the order behind the
//   package from WeChat Pay; here the shim asks GET /demo/pay-sheet?prepay_id=… (the
//   simulator's state of that order: merchant, number, amount, description — no key, no
//   signature), shows it (the page's `askPay`), and plays the user's choice at WeChat Pay
//   (POST /__sim/pay, forwarded like /__sim/login): pay → "requestPayment:ok" (WeChat Pay
//   then calls the server back), cancel → "requestPayment:fail cancel", a failed payment →
//   "requestPayment:fail …". The paySign is passed on, never shown.
// Every call is reported to `onCall`, for the timeline; codes are shown cut to a prefix.

const STORAGE_PREFIX = 'wxlogin-demo:';
const WX_REQUEST_METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT'];
const DEFAULT_TIMEOUT_MS = 60000;

/** @param {string} code */
export function codePrefix(code) {
  return code ? code.slice(0, 6) + '…' : '(none)';
}

/** @param {number} fen */
export function yuan(fen) {
  return '¥' + Math.floor(fen / 100) + '.' + String(fen % 100).padStart(2, '0');
}

const PAY_ANSWERS = {
  success: { outcome: 'success', errMsg: 'requestPayment:ok', said: 'paid' },
  cancel: { outcome: 'fail', errMsg: 'requestPayment:fail cancel', said: 'cancelled' },
  fail: { outcome: 'fail', errMsg: 'requestPayment:fail 支付失败 payment failed', said: 'payment failed' },
};

/**
 * @param {{appid: string, user: () => string, onCall: (call: {kind: string, title: string, detail: string, failed?: boolean}) => void, askSubscribe: (tmplIds: string[]) => Promise<'accept' | 'reject'>, askPay: (sheet: {mchid: string, out_trade_no: string, description: string, total: number}) => Promise<'success' | 'cancel' | 'fail'>}} options
 */
export function createWx({ appid, user, onCall, askSubscribe, askPay }) {
  /** @type {Map<string, Blob>} temp file path → bytes, as the phone's temp directory */
  const tempFiles = new Map();

  function finish(options, outcome, result) {
    // Callbacks run outside our own promise chain: an exception thrown by `success` must not
    // turn into a call to `fail`, as it could not on a phone.
    queueMicrotask(() => {
      const callback = outcome === 'success' ? options.success : options.fail;
      if (typeof callback === 'function') callback(result);
      if (typeof options.complete === 'function') options.complete(result);
    });
  }

  async function control(path, body) {
    const answer = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
    });
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok || typeof data.code !== 'string') {
      throw new Error(typeof data.error === 'string' ? data.error : 'HTTP ' + answer.status);
    }
    return data.code;
  }

  /** fetch with wx's timeout; resolves to {statusCode, text, header} or rejects on no answer */
  async function send(url, init, timeout) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout || DEFAULT_TIMEOUT_MS);
    try {
      const answer = await fetch(url, { ...init, signal: controller.signal, credentials: 'omit' });
      const text = await answer.text();
      /** @type {Record<string, string>} */
      const header = {};
      answer.headers.forEach((value, name) => {
        header[name] = value;
      });
      return { statusCode: answer.status, text, header };
    } catch (error) {
      throw new Error(controller.signal.aborted ? 'timeout' : String(error && error.message));
    } finally {
      clearTimeout(timer);
    }
  }

  function pathOf(url) {
    try {
      return new URL(url, location.href).pathname;
    } catch (error) {
      return String(url);
    }
  }

  const wx = {
    login(options = {}) {
      control('/__sim/login', { appid, user: user() }).then(
        (code) => {
          onCall({ kind: 'wx_login', title: 'wx.login', detail: 'code ' + codePrefix(code) + ' from WeChat' });
          finish(options, 'success', { code, errMsg: 'login:ok' });
        },
        (error) => {
          onCall({ kind: 'wx_login', title: 'wx.login failed', detail: error.message, failed: true });
          finish(options, 'fail', { errMsg: 'login:fail ' + error.message });
        },
      );
    },

    request(options) {
      const method = String(options.method || 'GET').toUpperCase();
      let url = String(options.url);
      if (!WX_REQUEST_METHODS.includes(method)) {
        onCall({ kind: 'wx_request', title: 'wx.request ' + method + ' ' + pathOf(url), detail: 'fail: wx.request cannot send ' + method, failed: true });
        finish(options, 'fail', { errMsg: 'request:fail method is invalid' });
        return;
      }
      /** @type {BodyInit | undefined} */
      let body;
      const data = options.data;
      if (method === 'GET' || method === 'HEAD') {
        if (data && typeof data === 'object') {
          const query = new URLSearchParams(/** @type {Record<string, string>} */ (data)).toString();
          if (query) url += (url.includes('?') ? '&' : '?') + query;
        }
      } else if (data !== undefined && data !== null) {
        body = typeof data === 'string' || data instanceof ArrayBuffer ? data : JSON.stringify(data);
      }
      const label = 'wx.request ' + method + ' ' + pathOf(url);
      send(url, { method, headers: options.header || {}, body }, options.timeout).then(
        (answer) => {
          let parsed = answer.text;
          if ((options.dataType || 'json') === 'json') {
            try {
              parsed = JSON.parse(answer.text);
            } catch (error) {
              // wx leaves a body that is not JSON as text.
            }
          }
          onCall({ kind: 'wx_request', title: label, detail: '→ HTTP ' + answer.statusCode, failed: answer.statusCode >= 400 });
          finish(options, 'success', { data: parsed, statusCode: answer.statusCode, header: answer.header, cookies: [], errMsg: 'request:ok' });
        },
        (error) => {
          onCall({ kind: 'wx_request', title: label, detail: 'no answer: ' + error.message, failed: true });
          finish(options, 'fail', { errMsg: 'request:fail ' + error.message });
        },
      );
    },

    uploadFile(options) {
      const url = String(options.url);
      const label = 'wx.uploadFile ' + pathOf(url);
      const file = tempFiles.get(options.filePath);
      if (!file) {
        onCall({ kind: 'wx_upload', title: label, detail: 'no such temp file', failed: true });
        finish(options, 'fail', { errMsg: 'uploadFile:fail file not found' });
        return;
      }
      const form = new FormData();
      for (const [name, value] of Object.entries(options.formData || {})) form.append(name, String(value));
      form.append(options.name, file, options.filePath.split('/').pop());
      // The browser writes the multipart Content-Type with its boundary; a caller's would break it.
      /** @type {Record<string, string>} */
      const header = {};
      for (const [name, value] of Object.entries(options.header || {})) {
        if (name.toLowerCase() !== 'content-type') header[name] = value;
      }
      send(url, { method: 'POST', headers: header, body: form }, options.timeout).then(
        (answer) => {
          onCall({ kind: 'wx_upload', title: label, detail: file.size + ' bytes → HTTP ' + answer.statusCode, failed: answer.statusCode >= 400 });
          finish(options, 'success', { data: answer.text, statusCode: answer.statusCode, errMsg: 'uploadFile:ok' });
        },
        (error) => {
          onCall({ kind: 'wx_upload', title: label, detail: 'no answer: ' + error.message, failed: true });
          finish(options, 'fail', { errMsg: 'uploadFile:fail ' + error.message });
        },
      );
    },

    requestSubscribeMessage(options) {
      const ids = Array.isArray(options.tmplIds) ? options.tmplIds.map(String) : [];
      const title = 'wx.requestSubscribeMessage';
      const refuse = (errMsg, errCode, why) => {
        onCall({ kind: 'subscribe_dialog', title, detail: 'fail: ' + why, failed: true });
        finish(options, 'fail', errCode === undefined ? { errMsg } : { errMsg, errCode });
      };
      // WeChat opens the dialog only from a tap; the browser's user activation is the same idea.
      const activation = /** @type {any} */ (navigator).userActivation;
      if (activation && !activation.isActive) {
        refuse('requestSubscribeMessage:fail can only be invoked by user TAP gesture.', undefined, 'not from a tap');
        return;
      }
      if (ids.length === 0) return refuse("requestSubscribeMessage:fail TmplIds can't be empty", 10001, 'no template');
      if (ids.length > 5) return refuse('requestSubscribeMessage:fail Templates count out of max bounds', 20003, 'too many');
      askSubscribe(ids)
        .then(async (choice) => {
          /** @type {Record<string, string>} */
          const answer = { errMsg: 'requestSubscribeMessage:ok' };
          for (const id of ids) {
            const recorded = await fetch('/__sim/subscriptions', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ appid, user: user(), template_id: id, result: choice }),
              credentials: 'omit',
            });
            if (!recorded.ok) throw new Error('the dialog could not record the choice: HTTP ' + recorded.status);
            answer[id] = choice;
          }
          onCall({ kind: 'subscribe_dialog', title, detail: choice + ' for ' + ids.join(', '), failed: choice !== 'accept' });
          finish(options, 'success', answer);
        })
        .catch((error) => refuse('requestSubscribeMessage:fail ' + error.message, 20001, error.message));
    },

    requestPayment(options) {
      const title = 'wx.requestPayment';
      const refuse = (why) => {
        onCall({ kind: 'wx_pay', title, detail: 'fail: ' + why, failed: true });
        finish(options, 'fail', { errMsg: 'requestPayment:fail ' + why });
      };
      const pkg = typeof options.package === 'string' ? options.package : '';
      const prepayId = pkg.startsWith('prepay_id=') ? pkg.slice('prepay_id='.length) : '';
      if (!prepayId || !options.paySign || !options.timeStamp || !options.nonceStr) {
        refuse('parameter error');
        return;
      }
      fetch('/demo/pay-sheet?prepay_id=' + encodeURIComponent(prepayId), { cache: 'no-store', credentials: 'omit' })
        .then(async (answer) => {
          const sheet = await answer.json().catch(() => ({}));
          if (!answer.ok) throw new Error((sheet.error && sheet.error.message) || 'HTTP ' + answer.status);
          if (sheet.appid !== appid) throw new Error('the order is paid in another mini program');
          onCall({
            kind: 'wx_pay_sheet',
            title: title + ': the sheet',
            detail: yuan(sheet.total) + ' for ' + sheet.description + ' (' + sheet.out_trade_no + '); signed ' + options.signType + ', the paySign not shown',
          });
          const choice = await askPay(sheet);
          const answered = PAY_ANSWERS[choice] || PAY_ANSWERS.cancel;
          const played = await fetch('/__sim/pay', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ mchid: sheet.mchid, out_trade_no: sheet.out_trade_no, outcome: choice }),
            credentials: 'omit',
          });
          if (!played.ok) throw new Error('WeChat Pay refused the sheet: HTTP ' + played.status);
          onCall({ kind: 'wx_pay', title, detail: answered.errMsg, failed: choice !== 'success' });
          finish(options, answered.outcome, { errMsg: answered.errMsg });
        })
        .catch((error) => refuse(error.message));
    },

    getStorageSync(key) {
      const stored = localStorage.getItem(STORAGE_PREFIX + key);
      if (stored === null) return '';
      try {
        return JSON.parse(stored).value;
      } catch (error) {
        return '';
      }
    },

    setStorageSync(key, value) {
      localStorage.setItem(STORAGE_PREFIX + key, JSON.stringify({ value }));
    },

    removeStorageSync(key) {
      localStorage.removeItem(STORAGE_PREFIX + key);
    },
  };

  return {
    wx,

    /**
     * The getPhoneNumber button, tapped: the event its handler receives.
     *
     * @param {'ok' | 'deny'} choice
     */
    async phoneButtonEvent(choice) {
      if (choice === 'deny') {
        onCall({ kind: 'phone_button', title: 'getPhoneNumber', detail: 'fail user deny', failed: true });
        return { detail: { errMsg: 'getPhoneNumber:fail user deny' } };
      }
      const code = await control('/__sim/phone-code', { appid, user: user() });
      onCall({ kind: 'phone_button', title: 'getPhoneNumber', detail: 'ok: phone code ' + codePrefix(code) });
      return { detail: { code, errMsg: 'getPhoneNumber:ok' } };
    },

    /**
     * The chooseAvatar button: the picked image becomes a temp file; the event names it.
     *
     * @param {Blob} image
     */
    chooseAvatarEvent(image) {
      const extension = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' }[image.type] || 'img';
      const random = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
      const avatarUrl = 'wxfile://tmp_' + random + '.' + extension;
      tempFiles.set(avatarUrl, image);
      onCall({ kind: 'choose_avatar', title: 'chooseAvatar', detail: image.size + ' bytes → ' + avatarUrl });
      return { detail: { avatarUrl } };
    },
  };
}
