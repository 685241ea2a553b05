'use strict';
// Generated from src/errors.mjs by scripts/build-cjs.mjs; edit the source, then run `npm run build`.
// The errors the SDK rejects with. Every one is an AuthError with a `kind` a mini program can
// switch on (or test with instanceof); ServerError adds the server's `code` and HTTP `status`.
//
//   AuthError                 kind
//   ├── NetworkError          'network'        wx.request / wx.uploadFile called `fail`
//   ├── UserDeniedError       'user_denied'    the user refused (phone button deny / cancel)
//   ├── WxApiError            'wx_api'         another wx.* failure (wx.login fail, phone quota)
//   ├── ServerError           'server'         the server answered an error: .code, .status
//   ├── BadResponseError      'bad_response'   the server answered something we cannot trust
//   └── NotLoggedInError      'not_logged_in'  no session, and this call may not make one

/** @typedef {'network' | 'user_denied' | 'wx_api' | 'server' | 'bad_response' | 'not_logged_in'} ErrorKind */

const ErrorKind = Object.freeze({
  NETWORK: 'network',
  USER_DENIED: 'user_denied',
  WX_API: 'wx_api',
  SERVER: 'server',
  BAD_RESPONSE: 'bad_response',
  NOT_LOGGED_IN: 'not_logged_in',
});

class AuthError extends Error {
  /**
   * @param {ErrorKind} kind
   * @param {string} message
   * @param {unknown} [cause]
   */
  constructor(kind, message, cause) {
    super(message);
    this.name = 'AuthError';
    /** @type {ErrorKind} */
    this.kind = kind;
    if (cause !== undefined) this.cause = cause;
  }
}

/** wx.request / wx.uploadFile called `fail`: no HTTP answer at all (offline, DNS, timeout). */
class NetworkError extends AuthError {
  /** @param {string} errMsg the platform's errMsg, e.g. "request:fail timeout" */
  constructor(errMsg) {
    super(ErrorKind.NETWORK, 'network error: ' + errMsg);
    this.name = 'NetworkError';
    this.errMsg = errMsg;
  }
}

/** The user said no (the phone button's "fail user deny" or "fail:user cancel"). */
class UserDeniedError extends AuthError {
  /** @param {string} errMsg */
  constructor(errMsg) {
    super(ErrorKind.USER_DENIED, 'the user denied: ' + errMsg);
    this.name = 'UserDeniedError';
    this.errMsg = errMsg;
  }
}

/** A wx.* / uni.* API failed for a reason other than the network or the user's refusal. */
class WxApiError extends AuthError {
  /**
   * @param {string} errMsg
   * @param {number | undefined} errno e.g. 1400001: the phone-number quota is used up
   */
  constructor(errMsg, errno) {
    super(ErrorKind.WX_API, errMsg);
    this.name = 'WxApiError';
    this.errMsg = errMsg;
    this.errno = errno;
  }
}

/** The server answered an error `{"error": {"code", "message", "wechat_errcode"?}}`. */
class ServerError extends AuthError {
  /**
   * @param {number} status the HTTP status
   * @param {string} code the server's stable error code ("invalid_code", "token_expired", ...)
   * @param {string} message a sentence for people; do not parse it
   * @param {number | undefined} wechatErrcode WeChat's errcode behind it, when there was one
   */
  constructor(status, code, message, wechatErrcode) {
    super(ErrorKind.SERVER, code + ' (HTTP ' + status + '): ' + message);
    this.name = 'ServerError';
    this.status = status;
    this.code = code;
    this.serverMessage = message;
    this.wechatErrcode = wechatErrcode;
  }
}

/** The server answered 2xx but not in the shape the API promises; nothing of it was used. */
class BadResponseError extends AuthError {
  /**
   * @param {string} what what was wrong, e.g. "login: access_token missing"
   * @param {number} status
   */
  constructor(what, status) {
    super(ErrorKind.BAD_RESPONSE, 'unexpected answer from the server: ' + what);
    this.name = 'BadResponseError';
    this.status = status;
  }
}

/** No session, and the call may not log in (or logging in did not help). */
class NotLoggedInError extends AuthError {
  /**
   * @param {string} message
   * @param {unknown} [cause]
   */
  constructor(message, cause) {
    super(ErrorKind.NOT_LOGGED_IN, message, cause);
    this.name = 'NotLoggedInError';
  }
}

/**
 * The server's error body as a ServerError, whatever shape it came in: a proxy's HTML page
 * becomes code "http_<status>".
 *
 * @param {number} status
 * @param {unknown} body
 * @returns {ServerError}
 */
function serverErrorOf(status, body) {
  const error = isObject(body) && isObject(body.error) ? body.error : null;
  if (error && typeof error.code === 'string' && error.code) {
    const message = typeof error.message === 'string' ? error.message : '';
    const errcode = typeof error.wechat_errcode === 'number' ? error.wechat_errcode : undefined;
    return new ServerError(status, error.code, message, errcode);
  }
  return new ServerError(status, 'http_' + status, 'the server answered HTTP ' + status, undefined);
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

exports.ErrorKind = ErrorKind;
exports.AuthError = AuthError;
exports.NetworkError = NetworkError;
exports.UserDeniedError = UserDeniedError;
exports.WxApiError = WxApiError;
exports.ServerError = ServerError;
exports.BadResponseError = BadResponseError;
exports.NotLoggedInError = NotLoggedInError;
exports.serverErrorOf = serverErrorOf;
exports.isObject = isObject;
