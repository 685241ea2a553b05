'use strict';
// Generated from src/platform.mjs by scripts/build-cjs.mjs; edit the source, then run `npm run build`.
// The wx.* / uni.* calls the SDK makes, as promises. Only callbacks are used underneath:
// wx.login and wx.request have no promise form on every base library, and uni-app's promise
// forms differ between Vue 2 ([err, res]) and Vue 3 (res).

const { NetworkError, WxApiError } = require('./errors.js');
const { subscribeFailure, subscribeResults } = require('./subscribe.js');

/**
 * @typedef {object} HttpAnswer
 * @property {number} statusCode
 * @property {any} data      parsed JSON when the body was JSON (wx.request), else the raw text
 * @property {Record<string, string>} header
 */

/**
 * @typedef {object} Platform
 * @property {'wx' | 'uni'} name
 * @property {() => Promise<string>} login  a fresh login code, never a cached one
 * @property {(options: {url: string, method: string, data?: any, header: Record<string, string>, timeout?: number}) => Promise<HttpAnswer>} request
 * @property {(options: {url: string, filePath: string, name: string, formData?: Record<string, string>, header: Record<string, string>, timeout?: number}) => Promise<{statusCode: number, data: string}>} uploadFile
 * @property {(key: string) => unknown} readStorage   null when missing
 * @property {(key: string, value: unknown) => void} writeStorage
 * @property {(key: string) => void} removeStorage
 * @property {(tmplIds: string[]) => Promise<Record<string, 'accept' | 'reject' | 'ban' | 'filter'>>} requestSubscribe
 *   wx.requestSubscribeMessage, called before this returns (the tap rule: see subscribe.mjs)
 * @property {(params: import('./pay.js').PaymentParams) => Promise<import('./pay.js').SheetAnswer>} requestPayment
 *   wx.requestPayment / uni.requestPayment({provider: 'wxpay'}): how the sheet ended, never a
 *   rejection (pay.mjs decides what a failure means)
 */

/**
 * The platform object: the one given, else the global `wx` / `uni`.
 *
 * @param {'wx' | 'uni'} name
 * @param {any} [api]
 * @returns {Platform}
 */
function platformOf(name, api) {
  if (name !== 'wx' && name !== 'uni') {
    throw new TypeError("createAuth: platform must be 'wx' or 'uni', not " + String(name));
  }
  const host = api || globalApi(name);
  if (!host || typeof host.login !== 'function' || typeof host.request !== 'function') {
    throw new TypeError(
      'createAuth: no `' + name + '` object here; pass it as `platformApi` (or run in a mini program)',
    );
  }
  return {
    name,
    login: () => login(name, host),
    request: (options) =>
      new Promise((resolve, reject) => {
        host.request(
          defined({
            url: options.url,
            method: options.method,
            data: options.data,
            header: options.header,
            timeout: options.timeout,
            dataType: 'json',
            success: (/** @type {any} */ res) =>
              resolve({
                statusCode: res.statusCode,
                data: res.data,
                header: res.header || {},
              }),
            fail: (/** @type {any} */ err) => reject(new NetworkError(errMsgOf(err, 'request:fail'))),
          }),
        );
      }),
    uploadFile: (options) =>
      new Promise((resolve, reject) => {
        host.uploadFile(
          defined({
            url: options.url,
            filePath: options.filePath,
            name: options.name,
            formData: options.formData,
            header: options.header,
            timeout: options.timeout,
            success: (/** @type {any} */ res) => resolve({ statusCode: res.statusCode, data: res.data }),
            fail: (/** @type {any} */ err) => reject(new NetworkError(errMsgOf(err, 'uploadFile:fail'))),
          }),
        );
      }),
    readStorage(key) {
      let value;
      try {
        value = host.getStorageSync(key);
      } catch (error) {
        return null;
      }
      // getStorageSync answers "" for a key that was never set.
      return value === '' || value === undefined ? null : value;
    },
    writeStorage(key, value) {
      try {
        host.setStorageSync(key, value);
      } catch (error) {
        // Storage full or unavailable: the session still lives in memory for this launch.
        logWarning('could not save the session to storage', error);
      }
    },
    removeStorage(key) {
      try {
        host.removeStorageSync(key);
      } catch (error) {
        logWarning('could not remove the session from storage', error);
      }
    },
    // The executor runs at once: wx.requestSubscribeMessage is called in the caller's turn.
    requestSubscribe: (tmplIds) =>
      new Promise((resolve, reject) => {
        if (typeof host.requestSubscribeMessage !== 'function') {
          reject(new WxApiError('requestSubscribeMessage:fail not available on this platform', undefined));
          return;
        }
        host.requestSubscribeMessage({
          tmplIds,
          success: (/** @type {any} */ res) => resolve(subscribeResults(res, tmplIds)),
          fail: (/** @type {any} */ err) => reject(subscribeFailure(err)),
        });
      }),
    requestPayment: (params) => requestPayment(name, host, params),
  };
}

/**
 * @param {'wx' | 'uni'} name
 * @param {any} host
 * @param {import('./pay.js').PaymentParams} params
 * @returns {Promise<import('./pay.js').SheetAnswer>}
 */
function requestPayment(name, host, params) {
  return new Promise((resolve) => {
    if (typeof host.requestPayment !== 'function') {
      resolve({ ok: false, errMsg: 'requestPayment:fail not available on this platform' });
      return;
    }
    /** @type {Record<string, any>} */
    const options = {
      timeStamp: params.timeStamp,
      nonceStr: params.nonceStr,
      package: params.package,
      signType: params.signType,
      paySign: params.paySign,
      success: (/** @type {any} */ res) => resolve({ ok: true, errMsg: errMsgOf(res, 'requestPayment:ok') }),
      fail: (/** @type {any} */ err) => resolve({ ok: false, errMsg: errMsgOf(err, 'requestPayment:fail') }),
    };
    // uni.requestPayment serves several payment providers; WeChat Pay's is 'wxpay'.
    if (name === 'uni') options.provider = 'wxpay';
    try {
      host.requestPayment(options);
    } catch (error) {
      // A base library that throws on a parameter it dislikes: the sheet never opened.
      resolve({ ok: false, errMsg: 'requestPayment:fail ' + String(error && /** @type {any} */ (error).message) });
    }
  });
}

/**
 * @param {'wx' | 'uni'} name
 * @param {any} host
 * @returns {Promise<string>}
 */
function login(name, host) {
  return new Promise((resolve, reject) => {
    /** @type {Record<string, any>} */
    const options = {
      success: (/** @type {any} */ res) => {
        const code = res && res.code;
        if (typeof code === 'string' && code) resolve(code);
        else reject(new WxApiError(errMsgOf(res, 'login:fail') + ' (no code)', undefined));
      },
      fail: (/** @type {any} */ err) =>
        reject(new WxApiError(errMsgOf(err, 'login:fail'), err && err.errno)),
    };
    // uni.login needs the provider (uni-app's App side has several); wx.login has none.
    if (name === 'uni') options.provider = 'weixin';
    host.login(options);
  });
}

/**
 * @param {'wx' | 'uni'} name
 * @returns {any}
 */
function globalApi(name) {
  // `typeof` on a free name: safe where the global does not exist (no globalThis in old
  // base libraries).
  /* global wx, uni */
  if (name === 'wx') return typeof wx === 'undefined' ? undefined : wx;
  return typeof uni === 'undefined' ? undefined : uni;
}

/**
 * The options without the keys left undefined: the base library checks parameter types and
 * complains about an undefined `timeout` or `data`.
 *
 * @param {Record<string, any>} options
 * @returns {Record<string, any>}
 */
function defined(options) {
  /** @type {Record<string, any>} */
  const result = {};
  Object.keys(options).forEach((key) => {
    if (options[key] !== undefined) result[key] = options[key];
  });
  return result;
}

/**
 * @param {any} err
 * @param {string} fallback
 * @returns {string}
 */
function errMsgOf(err, fallback) {
  return err && typeof err.errMsg === 'string' && err.errMsg ? err.errMsg : fallback;
}

/**
 * @param {string} what
 * @param {unknown} error
 */
function logWarning(what, error) {
  if (typeof console !== 'undefined' && console.warn) console.warn('[wxlogin] ' + what, error);
}

exports.platformOf = platformOf;
