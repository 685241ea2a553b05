// A faithful fake of the `wx` / `uni` object the SDK calls, for node.
//
// - login() plays the phone: it mints a real code at the simulator (POST /__sim/login), so
//   every code is single use and expires as WeChat's do.
// - request() / uploadFile() do real HTTP (node's fetch) to the real wxlogin process and keep
//   wx's semantics: `success` for every HTTP status, 4xx and 5xx included; `fail` only when
//   there is no HTTP answer (refused connection, timeout), with errMsg "request:fail ...".
//   GET data goes into the query string; a JSON-parsable body is parsed (dataType "json"),
//   anything else stays text; uploadFile's `data` is always the raw text.
// - Storage lives in memory and is serialised on the way in, as wx's is (JSON-able values).
// - Callbacks run asynchronously, then `complete`, as on a device.
//
// - requestSubscribeMessage() plays WeChat's subscribe dialog: it opens only inside `tap()`
//   (WeChat's rule: from a tap), answers each template with `subscribeChoices[id]` (default
//   'accept'), and tells the simulator an accept or a reject (POST /__sim/subscriptions), as
//   WeChat learns the user's choice; 'ban' and 'filter' are WeChat's own and reach nobody.
// - requestPayment() plays WeChat's pay sheet: it checks the parameters' shapes, learns the
//   order behind the package from WeChat Pay (the simulator's state, by prepay_id), and plays
//   `payChoice` there (POST /__sim/pay): 'success' pays (WeChat Pay then sends its callback),
//   'cancel' closes the sheet ("requestPayment:fail cancel"), 'fail' is a payment that fails;
//   'ok-unpaid' answers ok with nothing paid — requestPayment:ok is no proof of payment.
//   uni.requestPayment needs provider 'wxpay'.
//
// Every HTTP call is recorded in `calls` ({api, method, path, statusCode}) so tests count
// what the SDK really sent. Fault switches play the phone's side only: `offline` makes
// requests fail as wx does without a network; `replayCodes` hands out given codes before
// minting new ones (a code some other code path already spent).

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

const WX_REQUEST_METHODS = ['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT'];

/**
 * @param {{simUrl: string, appid: string, user: string, platform?: 'wx' | 'uni', storage?: Map<string, string>}} options
 */
export function createFakeWx({ simUrl, appid, user, platform = 'wx', storage = new Map() }) {
  /** @type {{api: string, method: string, path: string, statusCode: number | null}[]} */
  const calls = [];
  /** @type {{path: string, resolve: () => void}[]} */
  const waiters = [];
  /** @param {{api: string, method: string, path: string, statusCode: number | null}} record */
  function recordCall(record) {
    calls.push(record);
    for (const waiter of waiters.filter((w) => w.path === record.path)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }
  /** @type {{path: string, stage: 'send' | 'answer', skip: number, arrived: () => void, released: Promise<void>}[]} */
  const holds = [];
  /**
   * Hold a call back if a test asked for it: before it is sent, or after the server answered
   * and before the callback runs (a slow phone network, deterministically).
   *
   * @param {string} path
   * @param {'send' | 'answer'} stage
   */
  async function heldBack(path, stage) {
    const index = holds.findIndex((hold) => hold.path === path && hold.stage === stage);
    if (index < 0) return;
    if (holds[index].skip > 0) {
      holds[index].skip -= 1;
      return;
    }
    const [hold] = holds.splice(index, 1);
    hold.arrived();
    await hold.released;
  }
  const fake = {
    calls,
    storage,
    /** wx.login calls, successful or not */
    loginCalls: 0,
    /** @type {string[]} codes login() returns before minting fresh ones */
    replayCodes: [],
    /** when true, request/uploadFile fail as with no network */
    offline: false,
    /** @type {string | null} when set, login() fails with this errMsg */
    loginFailure: null,
    /** @type {string[]} what DevTools would print as parameter warnings */
    warnings: [],
    /** requestSubscribeMessage calls, whatever came of them */
    subscribeCalls: 0,
    /** @type {Record<string, 'accept' | 'reject' | 'ban' | 'filter'>} the dialog's answer per template (default accept) */
    subscribeChoices: {},
    /** @type {{errMsg: string, errCode?: number} | null} when set, the dialog fails with it */
    subscribeFailure: null,
    /** true while a tap handler runs (see tap()) */
    tapping: false,
    /** @type {any[]} the options of each requestPayment call */
    payCalls: [],
    /** @type {'success' | 'cancel' | 'fail' | 'ok-unpaid'} what the user does at the pay sheet */
    payChoice: 'success',

    /**
     * The user taps a button: `handler` runs as the page's tap handler. Only during its
     * synchronous part may requestSubscribeMessage open the dialog; after its first `await`
     * the tap is over, as on a phone.
     *
     * @template T
     * @param {() => T} handler
     * @returns {T}
     */
    tap(handler) {
      fake.tapping = true;
      try {
        return handler();
      } finally {
        fake.tapping = false;
      }
    },

    /** @param {any} options */
    requestSubscribeMessage(options) {
      fake.subscribeCalls += 1;
      const fromTap = fake.tapping;
      settle(options, async () => {
        if (!fromTap) return fail('requestSubscribeMessage:fail can only be invoked by user TAP gesture.');
        const ids = options.tmplIds;
        if (!Array.isArray(ids) || ids.length === 0) return fail("requestSubscribeMessage:fail TmplIds can't be empty", 10001);
        if (ids.length > 5) return fail('requestSubscribeMessage:fail Templates count out of max bounds', 20003);
        if (fake.subscribeFailure) return fail(fake.subscribeFailure.errMsg, fake.subscribeFailure.errCode);
        /** @type {Record<string, string>} */
        const answer = { errMsg: 'requestSubscribeMessage:ok' };
        for (const id of ids) {
          const choice = fake.subscribeChoices[id] || 'accept';
          if (choice === 'accept' || choice === 'reject') {
            const response = await fetch(`${simUrl}/__sim/subscriptions`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ appid, user, template_id: id, result: choice }),
            });
            if (response.status === 404) {
              return fail('requestSubscribeMessage:fail No template data return, verify the template id exist', 20001);
            }
            if (!response.ok) return fail(`requestSubscribeMessage:fail ${response.status}`);
          }
          answer[id] = choice;
        }
        return ok(answer);
      });
    },

    /** @param {any} options */
    requestPayment(options) {
      fake.payCalls.push({ ...options });
      settle(options, async () => {
        if (platform === 'uni' && options.provider !== 'wxpay') return fail('requestPayment:fail provider must be wxpay');
        const problem = paymentParamsProblem(options);
        if (problem) return fail(`requestPayment:fail parameter error: ${problem}`);
        // WeChat's client learns the order behind the package from WeChat Pay.
        const prepayId = options.package.slice('prepay_id='.length);
        const state = await (await fetch(`${simUrl}/__sim/state`)).json();
        const order = state.orders.find((/** @type {any} */ o) => o.prepay_id === prepayId);
        if (!order) return fail('requestPayment:fail prepay_id not found');
        if (order.appid !== appid) return fail('requestPayment:fail the order is for another mini program');
        const choice = fake.payChoice;
        if (choice === 'ok-unpaid') return ok({ errMsg: 'requestPayment:ok' });
        const response = await fetch(`${simUrl}/__sim/pay`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ mchid: order.mchid, out_trade_no: order.out_trade_no, outcome: choice }),
        });
        if (!response.ok) return fail(`requestPayment:fail ${response.status}`);
        if (choice === 'success') return ok({ errMsg: 'requestPayment:ok' });
        if (choice === 'cancel') return fail('requestPayment:fail cancel');
        return fail('requestPayment:fail 支付失败 payment failed');
      });
    },

    /** @param {any} options */
    login(options) {
      fake.loginCalls += 1;
      settle(options, async () => {
        if (platform === 'uni' && options.provider !== 'weixin') {
          return fail('login:fail provider must be weixin');
        }
        if (fake.loginFailure) return fail(fake.loginFailure);
        const replayed = fake.replayCodes.shift();
        if (replayed) return ok({ code: replayed, errMsg: 'login:ok' });
        const response = await fetch(`${simUrl}/__sim/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ appid, user }),
        });
        if (!response.ok) return fail(`login:fail ${response.status}`);
        const { code } = await response.json();
        return ok({ code, errMsg: 'login:ok' });
      });
    },

    /** @param {any} options */
    request(options) {
      checkParameters('request', options);
      const controller = new AbortController();
      settle(options, async () => {
        const method = String(options.method || 'GET').toUpperCase();
        // wx.request's documented methods; PATCH among others is refused before any I/O.
        if (!WX_REQUEST_METHODS.includes(method)) return fail('request:fail method is invalid');
        // wx sends JSON unless told otherwise.
        const header = { ...options.header };
        if (!contentType(header)) header['content-type'] = 'application/json';
        let url = options.url;
        let body;
        if (options.data !== undefined && options.data !== null) {
          if (method === 'GET') {
            url += (url.includes('?') ? '&' : '?') + query(options.data);
          } else if (typeof options.data === 'string' || options.data instanceof ArrayBuffer) {
            body = options.data;
          } else if (/x-www-form-urlencoded/i.test(contentType(header))) {
            body = query(options.data);
          } else {
            body = JSON.stringify(options.data);
          }
        }
        const record = { api: 'request', method, path: new URL(url).pathname, statusCode: null };
        recordCall(record);
        await heldBack(record.path, 'send');
        const response = await send(url, { method, headers: header, body }, options.timeout, controller, 'request');
        if ('errMsg' in response) return fail(response.errMsg);
        record.statusCode = response.status;
        const text = await response.text();
        await heldBack(record.path, 'answer');
        return ok({
          data: options.dataType === 'json' || options.dataType === undefined ? jsonOrText(text) : text,
          statusCode: response.status,
          header: Object.fromEntries(response.headers),
          cookies: [],
          errMsg: 'request:ok',
        });
      });
      return { abort: () => controller.abort() };
    },

    /** @param {any} options */
    uploadFile(options) {
      checkParameters('uploadFile', options);
      const controller = new AbortController();
      settle(options, async () => {
        let bytes;
        try {
          bytes = await readFile(options.filePath);
        } catch {
          return fail(`uploadFile:fail file not found: ${options.filePath}`);
        }
        const form = new FormData();
        for (const [key, value] of Object.entries(options.formData || {})) form.append(key, String(value));
        form.append(options.name, new Blob([bytes]), basename(options.filePath));
        const record = { api: 'uploadFile', method: 'POST', path: new URL(options.url).pathname, statusCode: null };
        recordCall(record);
        const response = await send(
          options.url,
          { method: 'POST', headers: { ...options.header }, body: form },
          options.timeout,
          controller,
          'uploadFile',
        );
        if ('errMsg' in response) return fail(response.errMsg);
        record.statusCode = response.status;
        return ok({ data: await response.text(), statusCode: response.status, errMsg: 'uploadFile:ok' });
      });
      return { abort: () => controller.abort(), onProgressUpdate() {} };
    },

    /** @param {string} key @param {unknown} value */
    setStorageSync(key, value) {
      storage.set(key, JSON.stringify(value));
    },
    /** @param {string} key */
    getStorageSync(key) {
      const text = storage.get(key);
      return text === undefined ? '' : JSON.parse(text);
    },
    /** @param {string} key */
    removeStorageSync(key) {
      storage.delete(key);
    },

    /**
     * Hold the next request() to `path`, at `stage`: 'send' (not sent yet) or 'answer' (the
     * server has answered, the callback has not run). `arrived` resolves when the call gets
     * there; it goes on after `release()`.
     *
     * @param {string} path
     * @param {'send' | 'answer'} [stage]
     * @param {number} [skip] let this many calls to `path` through first
     */
    holdNext(path, stage = 'answer', skip = 0) {
      /** @type {() => void} */
      let arrived = () => {};
      /** @type {() => void} */
      let release = () => {};
      const arrivedPromise = new Promise((resolve) => {
        arrived = () => resolve(undefined);
      });
      const released = new Promise((resolve) => {
        release = () => resolve(undefined);
      });
      holds.push({ path, stage, skip, arrived, released });
      return { arrived: arrivedPromise, release };
    },

    /**
     * Resolves when the SDK sends its next call to `path` (the call is then out, unanswered).
     *
     * @param {string} path
     * @returns {Promise<void>}
     */
    whenSent(path) {
      return new Promise((resolve) => waiters.push({ path, resolve }));
    },

    /** @param {string} path */
    count(path, method = 'POST') {
      return calls.filter((call) => call.path === path && call.method === method).length;
    },
  };

  /**
   * The base library checks each parameter's type and warns about a wrong one (an undefined
   * `timeout` included); the fake records those warnings for the tests to see.
   *
   * @param {string} api
   * @param {Record<string, any>} options
   */
  function checkParameters(api, options) {
    const types = { url: 'string', method: 'string', header: 'object', timeout: 'number', dataType: 'string', filePath: 'string', name: 'string', formData: 'object' };
    for (const [key, type] of Object.entries(types)) {
      if (key in options && typeof options[key] !== type) {
        fake.warnings.push(`${api}:fail parameter error: parameter.${key} should be ${type} instead of ${typeof options[key]}`);
      }
    }
  }

  /**
   * @param {string} url
   * @param {RequestInit} init
   * @param {number | undefined} timeout
   * @param {AbortController} controller
   * @param {string} api
   * @returns {Promise<Response | {errMsg: string}>}
   */
  async function send(url, init, timeout, controller, api) {
    if (fake.offline) return { errMsg: `${api}:fail net::ERR_INTERNET_DISCONNECTED` };
    const timer = setTimeout(() => controller.abort(new Error('timeout')), timeout || 60_000);
    try {
      return await fetch(url, { ...init, signal: controller.signal });
    } catch (error) {
      const reason = controller.signal.aborted ? 'timeout' : String(/** @type {any} */ (error).cause?.code || error);
      return { errMsg: `${api}:fail ${reason}` };
    } finally {
      clearTimeout(timer);
    }
  }

  return fake;
}

/**
 * Run `body` on a later tick and deliver its outcome to success/fail, then complete.
 *
 * @param {any} options
 * @param {() => Promise<{ok: boolean, value: any}>} body
 */
function settle(options, body) {
  setImmediate(async () => {
    let outcome;
    try {
      outcome = await body();
    } catch (error) {
      outcome = { ok: false, value: { errMsg: `fail ${String(error)}` } };
    }
    if (outcome.ok) options.success?.(outcome.value);
    else options.fail?.(outcome.value);
    options.complete?.(outcome.value);
  });
}

/** @param {any} value */
function ok(value) {
  return { ok: true, value };
}

/**
 * @param {string} errMsg
 * @param {number} [errCode] requestSubscribeMessage's failures carry one
 */
function fail(errMsg, errCode) {
  return { ok: false, value: errCode === undefined ? { errMsg } : { errMsg, errCode } };
}

/**
 * What WeChat's client would refuse in requestPayment's parameters, or '' (API v3: RSA).
 *
 * @param {any} options
 */
function paymentParamsProblem(options) {
  if (typeof options.timeStamp !== 'string' || !/^\d{10}$/.test(options.timeStamp)) return 'timeStamp';
  if (typeof options.nonceStr !== 'string' || !/^[0-9A-Za-z]{1,32}$/.test(options.nonceStr)) return 'nonceStr';
  if (typeof options.package !== 'string' || !/^prepay_id=[\w-]{1,64}$/.test(options.package)) return 'package';
  if (options.signType !== 'RSA') return 'signType';
  if (typeof options.paySign !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(options.paySign)) return 'paySign';
  return '';
}

/** @param {Record<string, unknown>} data */
function query(data) {
  return new URLSearchParams(Object.entries(data).map(([k, v]) => [k, String(v)])).toString();
}

/** @param {Record<string, string>} header */
function contentType(header) {
  const name = Object.keys(header).find((key) => key.toLowerCase() === 'content-type');
  return name ? header[name] : '';
}

/** @param {string} text */
function jsonOrText(text) {
  if (!text) return '';
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
