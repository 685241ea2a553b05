'use strict';
// Generated from src/subscribe.mjs by scripts/build-cjs.mjs; edit the source, then run `npm run build`.
// Subscribe messages, the mini program's half: asking the user (wx.requestSubscribeMessage).
//
// Each "accept" the user gives in WeChat's dialog lets the server send that template once
// (POST /messages on the wxlogin server, by the host app's backend). WeChat's rules the SDK
// keeps (shared/miniprogram-api.md):
// - The dialog only opens from a tap: call requestSubscribe synchronously inside the tap
//   handler, before any `await`. WeChat refuses a call made after the tap's turn ended
//   ("can only be invoked by user TAP gesture"), so the SDK itself does nothing asynchronous
//   before it calls wx.requestSubscribeMessage.
// - 1 to 5 template ids per call.
// - The answer is per template: 'accept', 'reject', 'ban' (the template is banned) or
//   'filter' (filtered: another template in the same call has the same title).

const { UserDeniedError, WxApiError, isObject } = require('./errors.js');

const MAX_TEMPLATES_PER_REQUEST = 5;
const SUBSCRIBE_RESULTS = ['accept', 'reject', 'ban', 'filter'];
// errCode 20004: the user has switched subscribe messages off for this mini program.
const MAIN_SWITCH_OFF = 20004;

/**
 * The template ids as WeChat takes them, or a TypeError saying what is wrong.
 *
 * @param {unknown} tmplIds
 * @returns {string[]}
 */
function checkedTemplateIds(tmplIds) {
  if (!Array.isArray(tmplIds) || tmplIds.length === 0) {
    throw new TypeError('requestSubscribe: pass an array of 1 to ' + MAX_TEMPLATES_PER_REQUEST + ' template ids');
  }
  if (tmplIds.length > MAX_TEMPLATES_PER_REQUEST) {
    throw new TypeError(
      'requestSubscribe: at most ' + MAX_TEMPLATES_PER_REQUEST + ' template ids per call (WeChat\'s limit), not ' + tmplIds.length,
    );
  }
  tmplIds.forEach((id) => {
    if (typeof id !== 'string' || !id.trim()) throw new TypeError('requestSubscribe: each template id must be non-empty text');
  });
  if (new Set(tmplIds).size !== tmplIds.length) throw new TypeError('requestSubscribe: a template id is listed twice');
  return tmplIds.slice();
}

/**
 * The per-template answer of wx.requestSubscribeMessage's `success`: only the ids asked for,
 * each with one of the four results WeChat documents. An id WeChat gave no such answer for is
 * left out: treat it as not accepted.
 *
 * @param {unknown} res
 * @param {string[]} tmplIds
 * @returns {Record<string, 'accept' | 'reject' | 'ban' | 'filter'>}
 */
function subscribeResults(res, tmplIds) {
  /** @type {Record<string, any>} */
  const results = {};
  if (!isObject(res)) return results;
  tmplIds.forEach((id) => {
    const value = res[id];
    if (SUBSCRIBE_RESULTS.indexOf(value) >= 0) results[id] = value;
  });
  return results;
}

/**
 * wx.requestSubscribeMessage's `fail` as an SDK error: the user's switch turned off is their
 * refusal; anything else (not from a tap, too many ids, no such template) a WxApiError.
 *
 * @param {any} err
 */
function subscribeFailure(err) {
  const errMsg = err && typeof err.errMsg === 'string' && err.errMsg ? err.errMsg : 'requestSubscribeMessage:fail';
  const errCode = err && typeof err.errCode === 'number' ? err.errCode : undefined;
  if (errCode === MAIN_SWITCH_OFF) return new UserDeniedError(errMsg);
  return new WxApiError(errMsg, errCode);
}

exports.MAX_TEMPLATES_PER_REQUEST = MAX_TEMPLATES_PER_REQUEST;
exports.SUBSCRIBE_RESULTS = SUBSCRIBE_RESULTS;
exports.checkedTemplateIds = checkedTemplateIds;
exports.subscribeResults = subscribeResults;
exports.subscribeFailure = subscribeFailure;
