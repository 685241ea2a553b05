// createAuth: the login half of a mini program, against a wxlogin server.
//
// The rules it keeps (each one a failure seen in real mini programs):
// - One login and one refresh in flight, shared by every caller (single-flight.mjs).
// - A login code is never cached or reused: every login attempt calls wx.login. A stale or
//   spent code (invalid_code / code_used) gets exactly one more try with a fresh code.
// - A refresh token is sent once: a 401 whose token was already replaced by another caller's
//   refresh is retried with the new token, not refreshed again (the server revokes a session
//   whose refresh token is reused).
// - On a 401: refresh once and retry; if that fails, log in once and retry; then give up with
//   NotLoggedInError. Network trouble is never "fixed" by logging in again.
// - Logout is local first: the state is cleared even when the server cannot be reached.

import { readNewUser, readTokens, readUser, parsedBody } from './answers.mjs';
import {
  NotLoggedInError,
  ServerError,
  UserDeniedError,
  WxApiError,
  isObject,
  serverErrorOf,
} from './errors.mjs';
import { checkedDelays, checkedOrderId, payOrder, readOrder, readPaymentParams } from './pay.mjs';
import { platformOf } from './platform.mjs';
import { defaultStorageKey, lifetime, sessionStorage } from './session.mjs';
import { singleFlight } from './single-flight.mjs';
import { checkedTemplateIds } from './subscribe.mjs';

/**
 * @typedef {import('./answers.mjs').User} User
 * @typedef {import('./session.mjs').Session} Session
 * @typedef {import('./platform.mjs').HttpAnswer} HttpAnswer
 *
 * @typedef {object} AuthOptions
 * @property {string} baseUrl        the wxlogin server, e.g. "https://login.example.com"
 * @property {string} [appid]        sent with every login (servers with several mini programs)
 * @property {'wx' | 'uni'} [platform]   default 'wx'
 * @property {string} [storageKey]   default "wxlogin:<baseUrl>#<appid>"
 * @property {any} [platformApi]     the wx / uni object; default the global one
 * @property {() => number} [now]    the clock, ms; default Date.now
 * @property {number} [refreshMargin]  seconds before expiry to refresh; default 60
 * @property {number} [timeout]      ms for each HTTP call; default the platform's (60 s)
 * @property {number[]} [payCheckDelays]  ms to wait before each new look at an order still
 *   unpaid after requestPayment:ok; default [500, 1000, 2000, 4000], then 'pending'
 *
 * @typedef {{type: 'login', user: User, newUser: boolean}
 *   | {type: 'refresh', user: User}
 *   | {type: 'user', user: User}
 *   | {type: 'logout', user: User, reason: 'logout' | 'session_ended'}} AuthEvent
 *
 * @typedef {object} CallPolicy  what one call may do to get a session
 * @property {boolean} mayLogin  false for the phone button: WeChat says no wx.login there
 * @property {number} logouts    logouts seen when the call began
 */

const DEFAULT_REFRESH_MARGIN_S = 60;
// What wx.request and uni.request can send: no PATCH.
const WX_REQUEST_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'];
// The codes that mean "this code cannot be traded", where a fresh wx.login can help.
const RETRY_WITH_FRESH_CODE = ['invalid_code', 'code_used'];

/**
 * @param {AuthOptions} options
 */
export function createAuth(options) {
  if (!isObject(options)) throw new TypeError('createAuth: options must be an object');
  const baseUrl = normalizedBaseUrl(options.baseUrl);
  const appid = optionalText(options.appid, 'appid');
  const platform = platformOf(options.platform || 'wx', options.platformApi);
  const storage = sessionStorage(
    platform,
    optionalText(options.storageKey, 'storageKey') || defaultStorageKey(baseUrl, appid),
  );
  const now = typeof options.now === 'function' ? options.now : () => Date.now();
  const refreshMarginMs =
    1000 * (typeof options.refreshMargin === 'number' ? options.refreshMargin : DEFAULT_REFRESH_MARGIN_S);
  const timeout = typeof options.timeout === 'number' ? options.timeout : undefined;
  const payCheckDelays = checkedDelays(options.payCheckDelays);

  /** @type {Session | null} */
  let session = storage.load();
  let generations = 0;
  // Counts logouts, so a login that was in flight during one does not bring the session back.
  let logouts = 0;
  /** @type {Set<(event: AuthEvent) => void>} */
  const listeners = new Set();

  // ------------------------------------------------------------------ state and events

  /** @param {AuthEvent} event */
  function emit(event) {
    listeners.forEach((listener) => {
      try {
        listener(event);
      } catch (error) {
        // A broken listener must not break the login flow of every caller.
        if (typeof console !== 'undefined') console.error('[wxlogin] onChange listener threw', error);
      }
    });
  }

  /**
   * @param {import('./answers.mjs').TokenAnswer} tokens
   * @param {User} user
   * @param {number} generation
   * @returns {Session}
   */
  function newSession(tokens, user, generation) {
    const times = lifetime(now(), tokens.expiresIn, refreshMarginMs);
    return {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: times.expiresAt,
      refreshAt: times.refreshAt,
      user,
      generation,
    };
  }

  /** @param {Session | null} next */
  function replaceSession(next) {
    session = next;
    if (next) storage.save(next);
    else storage.clear();
  }

  /** @param {'logout' | 'session_ended'} reason */
  function endSession(reason) {
    const ended = session;
    if (!ended) return null;
    replaceSession(null);
    emit({ type: 'logout', user: ended.user, reason });
    return ended;
  }

  /** @param {User} user */
  function rememberUser(user) {
    if (!session) return;
    const changed = JSON.stringify(user) !== JSON.stringify(session.user);
    replaceSession(Object.assign({}, session, { user }));
    if (changed) emit({ type: 'user', user });
  }

  // ------------------------------------------------------------------ HTTP

  /**
   * @param {string} path
   * @param {string} method
   * @param {any} [data]
   * @param {string} [accessToken]
   */
  function call(path, method, data, accessToken) {
    /** @type {Record<string, string>} */
    const header = { 'content-type': 'application/json' };
    if (accessToken) header.Authorization = 'Bearer ' + accessToken;
    return platform.request({ url: baseUrl + path, method, data, header, timeout });
  }

  /** @param {string} url */
  function urlUnderBase(url) {
    if (typeof url !== 'string' || !url) throw new TypeError('url must be a non-empty string');
    if (url.charAt(0) === '/') return baseUrl + url;
    // The token goes only to our own server, never to a URL elsewhere.
    if (url === baseUrl || url.indexOf(baseUrl + '/') === 0 || url.indexOf(baseUrl + '?') === 0) {
      return url;
    }
    throw new TypeError('url must be a path ("/orders") or lie under baseUrl (' + baseUrl + ')');
  }

  // ------------------------------------------------------------------ login and refresh

  /** @returns {Promise<{tokens: import('./answers.mjs').TokenAnswer, user: User, newUser: boolean}>} */
  async function loginWithFreshCode() {
    const code = await platform.login();
    const answer = await call('/auth/login', 'POST', appid ? { code, appid } : { code });
    const body = parsedBody(answer.data);
    if (!isSuccess(answer.statusCode)) throw serverErrorOf(answer.statusCode, body);
    const tokens = readTokens(body, answer.statusCode, 'login');
    const user = readUser(/** @type {any} */ (body).user, answer.statusCode, 'login');
    return { tokens, user, newUser: readNewUser(body, answer.statusCode) };
  }

  const loginFlight = singleFlight(async () => {
    const logoutsAtStart = logouts;
    let result;
    try {
      result = await loginWithFreshCode();
    } catch (error) {
      if (!(error instanceof ServerError && RETRY_WITH_FRESH_CODE.indexOf(error.code) >= 0)) {
        throw error;
      }
      // The code was stale or already spent (a retried request, a slow network): one more
      // try, with a new wx.login. A second failure is the answer.
      result = await loginWithFreshCode();
    }
    if (logouts !== logoutsAtStart) {
      // logout() was called while this login was out: it wins. End the new session too.
      revokeQuietly(newSession(result.tokens, result.user, 0));
      throw new NotLoggedInError('logged out while a login was in flight');
    }
    // A login that replaces a live session (an explicit login()) drops that one's tokens; on
    // the server it ends when they expire. Calls still out with its access token just finish.
    generations += 1;
    replaceSession(newSession(result.tokens, result.user, generations));
    emit({ type: 'login', user: result.user, newUser: result.newUser });
    return { user: result.user, newUser: result.newUser };
  });

  const refreshFlight = singleFlight(async () => {
    const before = session;
    if (!before) throw new NotLoggedInError('no session to refresh');
    const answer = await call('/auth/refresh', 'POST', { refresh_token: before.refreshToken });
    const body = parsedBody(answer.data);
    const stillOurs = () => session !== null && session.generation === before.generation;
    if (!isSuccess(answer.statusCode)) {
      const error = serverErrorOf(answer.statusCode, body);
      // The refresh token is expired, revoked, reused or refused outright: so is the session.
      if (refreshTokenIsDead(answer.statusCode) && stillOurs()) endSession('session_ended');
      throw error;
    }
    const tokens = readTokens(body, answer.statusCode, 'refresh');
    // A logout or a new login while this refresh was out: their state stands.
    if (stillOurs()) {
      const user = /** @type {Session} */ (session).user;
      replaceSession(newSession(tokens, user, before.generation));
      emit({ type: 'refresh', user });
    }
  });

  /**
   * Whether a failed refresh means the session is gone for good, so only a new login can help.
   *
   * @param {unknown} error
   */
  function sessionIsDead(error) {
    return (
      error instanceof NotLoggedInError ||
      (error instanceof ServerError && refreshTokenIsDead(error.status))
    );
  }

  /**
   * @param {CallPolicy} policy
   * @param {unknown} [cause]
   * @returns {Promise<string>}
   */
  async function tokenFromNewLogin(policy, cause) {
    if (!policy.mayLogin) throw new NotLoggedInError('not logged in: call login() first', cause);
    // A call that was out when logout() ran must not log the user back in.
    if (logouts !== policy.logouts) throw new NotLoggedInError('logged out while the call was out', cause);
    await loginFlight.run();
    return currentToken();
  }

  function currentToken() {
    if (!session) throw new NotLoggedInError('logged out while the call was waiting');
    return session.accessToken;
  }

  /**
   * An access token to send now: logs in when there is no session, refreshes when the token
   * is about to expire.
   *
   * @param {CallPolicy} policy
   * @returns {Promise<string>}
   */
  async function tokenForCall(policy) {
    if (!session) return tokenFromNewLogin(policy);
    if (now() < session.refreshAt) return session.accessToken;
    try {
      await refreshFlight.run();
    } catch (error) {
      if (sessionIsDead(error)) return tokenFromNewLogin(policy, error);
      // The refresh failed for a passing reason (network, 5xx); the old token may still do.
      if (!session || now() >= session.expiresAt) throw error;
    }
    return currentToken();
  }

  /**
   * A token to replace `failed`, which the server just refused with 401.
   *
   * @param {string} failed
   * @param {CallPolicy} policy
   * @returns {Promise<{token: string, fromLogin: boolean}>}
   */
  async function replacementFor(failed, policy) {
    // Another caller's refresh (or login) already replaced it while this call was out.
    if (session && session.accessToken !== failed) return { token: session.accessToken, fromLogin: false };
    if (session) {
      try {
        await refreshFlight.run();
        return { token: currentToken(), fromLogin: false };
      } catch (error) {
        if (!sessionIsDead(error)) throw error;
        if (session && session.accessToken !== failed) {
          return { token: session.accessToken, fromLogin: false };
        }
        return { token: await tokenFromNewLogin(policy, error), fromLogin: true };
      }
    }
    return { token: await tokenFromNewLogin(policy), fromLogin: true };
  }

  /**
   * Send with a token; on 401 refresh and retry, then log in and retry, then give up.
   *
   * @template {{statusCode: number, data: any}} A
   * @param {(accessToken: string) => Promise<A>} send
   * @param {boolean} mayLogin
   * @returns {Promise<A>}
   */
  async function authorized(send, mayLogin) {
    const policy = { mayLogin, logouts };
    const first = await tokenForCall(policy);
    let answer = await send(first);
    if (answer.statusCode !== 401 || !refusesTheSession(answer)) return answer;

    const second = await replacementFor(first, policy);
    answer = await send(second.token);
    if (answer.statusCode !== 401) return answer;

    if (!second.fromLogin) {
      const refused = serverErrorOf(401, parsedBody(answer.data));
      const third =
        session && session.accessToken !== second.token
          ? session.accessToken
          : await tokenFromNewLogin(policy, refused);
      answer = await send(third);
      if (answer.statusCode !== 401) return answer;
    }
    throw new NotLoggedInError(
      'the server refuses this session even after a refresh and a new login',
      serverErrorOf(401, parsedBody(answer.data)),
    );
  }

  /**
   * One of our own JSON routes that answers the user.
   *
   * @param {string} path
   * @param {string} method
   * @param {any} data
   * @param {boolean} mayLogin
   * @returns {Promise<User>}
   */
  async function userCall(path, method, data, mayLogin) {
    const answer = await authorized((token) => call(path, method, data, token), mayLogin);
    return userFrom(answer, method + ' ' + path);
  }

  /**
   * One of our own JSON routes with the token: the 2xx answer's body, or the server's error.
   *
   * @param {string} path
   * @param {string} method
   */
  async function jsonCall(path, method) {
    const answer = await authorized((token) => call(path, method, undefined, token), true);
    const body = parsedBody(answer.data);
    if (!isSuccess(answer.statusCode)) throw serverErrorOf(answer.statusCode, body);
    return { body, status: answer.statusCode };
  }

  /**
   * @param {{statusCode: number, data: any}} answer
   * @param {string} route
   */
  function userFrom(answer, route) {
    const body = parsedBody(answer.data);
    if (!isSuccess(answer.statusCode)) throw serverErrorOf(answer.statusCode, body);
    const user = readUser(body, answer.statusCode, route);
    rememberUser(user);
    return user;
  }

  /**
   * Tell the server a session is over. Best effort: the local state is already gone, and a
   * session the server does not hear about ends when its refresh token expires.
   *
   * @param {Session} ended
   */
  async function revokeQuietly(ended) {
    try {
      let answer = await call('/auth/logout', 'POST', undefined, ended.accessToken);
      if (answer.statusCode !== 401) return;
      const code = serverErrorOf(401, parsedBody(answer.data)).code;
      if (code !== 'token_expired' && code !== 'invalid_token') return; // already revoked
      // The access token had expired: spend the refresh token once more, only to end the session.
      answer = await call('/auth/refresh', 'POST', { refresh_token: ended.refreshToken });
      if (!isSuccess(answer.statusCode)) return;
      const tokens = readTokens(parsedBody(answer.data), answer.statusCode, 'refresh');
      await call('/auth/logout', 'POST', undefined, tokens.accessToken);
    } catch (error) {
      // Offline or a bad answer: nothing more to do.
    }
  }

  // ------------------------------------------------------------------ the public API

  return {
    /** Log in now with a fresh wx.login code (joins a login already in flight). */
    login() {
      return loginFlight.run();
    },

    /** The user of a usable session: logs in or refreshes only when needed. */
    async ensureLogin() {
      await tokenForCall({ mayLogin: true, logouts });
      if (!session) throw new NotLoggedInError('logged out while logging in');
      return session.user;
    },

    /**
     * wx.request to our server with the token; resolves for any HTTP status, as wx.request.
     *
     * @param {{url: string, method?: string, data?: any, header?: Record<string, string>, timeout?: number}} request
     * @returns {Promise<HttpAnswer>}
     */
    async request(request) {
      if (!isObject(request)) throw new TypeError('request: options must be an object');
      const url = urlUnderBase(request.url);
      const method = (request.method || 'GET').toUpperCase();
      if (WX_REQUEST_METHODS.indexOf(method) < 0) {
        // wx.request would fail with "request:fail method is invalid", which reads like a
        // network problem; say what it is instead.
        throw new TypeError('request: wx.request cannot send ' + method + ' (only ' + WX_REQUEST_METHODS.join(', ') + ')');
      }
      return authorized(
        (token) =>
          platform.request({
            url,
            method,
            data: request.data,
            header: withAuthorization(request.header, token),
            timeout: request.timeout || timeout,
          }),
        true,
      );
    },

    /**
     * wx.uploadFile to our server with the token; `data` is the raw body, as wx gives it.
     *
     * @param {{url: string, filePath: string, name: string, formData?: Record<string, string>, header?: Record<string, string>, timeout?: number}} upload
     * @returns {Promise<{statusCode: number, data: string}>}
     */
    async uploadFile(upload) {
      if (!isObject(upload)) throw new TypeError('uploadFile: options must be an object');
      const url = urlUnderBase(upload.url);
      requireText(upload.filePath, 'uploadFile: filePath');
      requireText(upload.name, 'uploadFile: name');
      return authorized(
        (token) =>
          platform.uploadFile({
            url,
            filePath: upload.filePath,
            name: upload.name,
            formData: upload.formData,
            header: withAuthorization(upload.header, token),
            timeout: upload.timeout || timeout,
          }),
        true,
      );
    },

    /** GET /me: the user, with every (appid, openid) identity. */
    async me() {
      return userCall('/me', 'GET', undefined, true);
    },

    /**
     * The getPhoneNumber button's event → POST /me/phone. It never calls wx.login (WeChat's
     * rule for this callback): without a session it rejects with NotLoggedInError.
     *
     * @param {any} event the button event, or its `detail`
     */
    async bindPhone(event) {
      const detail = isObject(event) && isObject(event.detail) ? event.detail : event;
      if (!isObject(detail)) throw new TypeError('bindPhone: pass the getphonenumber event');
      const errMsg = typeof detail.errMsg === 'string' ? detail.errMsg : '';
      if (/:ok$/.test(errMsg)) {
        if (typeof detail.code === 'string' && detail.code) {
          return userCall('/me/phone', 'POST', { code: detail.code }, false);
        }
        // Base libraries before the phone code (2.21.2) give only the encrypted form.
        if (typeof detail.encryptedData === 'string' && typeof detail.iv === 'string') {
          const data = { encrypted_data: detail.encryptedData, iv: detail.iv };
          return userCall('/me/phone', 'POST', data, false);
        }
        throw new WxApiError(errMsg + ' without a code', detail.errno);
      }
      if (/deny|cancel/i.test(errMsg)) throw new UserDeniedError(errMsg);
      throw new WxApiError(errMsg || 'getPhoneNumber:fail', detail.errno);
    },

    /**
     * The chooseAvatar temp file → POST /me/avatar (multipart, field "file").
     *
     * @param {string} tempFilePath e.detail.avatarUrl of the chooseAvatar button
     */
    async uploadAvatar(tempFilePath) {
      requireText(tempFilePath, 'uploadAvatar: tempFilePath');
      const answer = await authorized(
        (token) =>
          platform.uploadFile({
            url: baseUrl + '/me/avatar',
            filePath: tempFilePath,
            name: 'file',
            header: withAuthorization(undefined, token),
            timeout,
          }),
        true,
      );
      return userFrom(answer, 'POST /me/avatar');
    },

    /**
     * POST /me/profile. The nickname comes from <input type="nickname">, read on form submit.
     * (POST, not PATCH: wx.request and uni.request cannot send PATCH.)
     *
     * @param {{nickname?: string, avatarUrl?: string}} profile
     */
    async updateProfile(profile) {
      if (!isObject(profile)) throw new TypeError('updateProfile: pass {nickname}');
      /** @type {Record<string, string>} */
      const data = {};
      if (profile.nickname !== undefined) data.nickname = requireText(profile.nickname, 'nickname');
      if (profile.avatarUrl !== undefined) {
        data.avatar_url = requireText(profile.avatarUrl, 'avatarUrl');
      }
      if (!data.nickname && !data.avatar_url) throw new TypeError('updateProfile: nothing to update');
      return userCall('/me/profile', 'POST', data, true);
    },

    /**
     * Ask the user to accept subscribe messages (wx.requestSubscribeMessage): resolves to
     * each template's answer, 'accept' | 'reject' | 'ban' | 'filter'. Each accept lets the
     * server send that template once. Needs no session and makes no server call.
     *
     * Call it from a tap, before any `await` in the handler: WeChat opens the dialog only
     * inside the tap's own turn. (Not `async` for the same reason: nothing here waits before
     * wx is called.)
     *
     * @param {string[]} tmplIds 1 to 5 template ids
     */
    requestSubscribe(tmplIds) {
      let ids;
      try {
        ids = checkedTemplateIds(tmplIds);
      } catch (error) {
        return Promise.reject(error);
      }
      return platform.requestSubscribe(ids);
    },

    /**
     * Pay an order the host app's backend created for this user: its signed parameters
     * (POST /pay/orders/{id}/params), WeChat's pay sheet (wx.requestPayment), then the
     * server's word on the order (GET /me/orders/{id}) — requestPayment:ok proves nothing.
     * Resolves to {status: 'paid' | 'cancelled' | 'failed' | 'pending', order, errMsg}.
     * Rejects only when the sheet could not open: a ServerError (409 order_not_payable when
     * the order is paid, closed or expired; 404 not_found), a NetworkError, ...
     *
     * @param {string} orderId
     */
    async pay(orderId) {
      const id = checkedOrderId(orderId);
      return payOrder({
        params: async () => {
          const answer = await jsonCall('/pay/orders/' + id + '/params', 'POST');
          return readPaymentParams(answer.body, answer.status);
        },
        requestPayment: platform.requestPayment,
        order: async () => {
          const answer = await jsonCall('/me/orders/' + id, 'GET');
          return readOrder(answer.body, answer.status);
        },
        delays: payCheckDelays,
        wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      });
    },

    /** End the session: locally at once, then on the server (best effort). Never rejects. */
    async logout() {
      logouts += 1;
      const ended = endSession('logout');
      if (ended) await revokeQuietly(ended);
    },

    /**
     * @param {(event: AuthEvent) => void} listener
     * @returns {() => void} unsubscribe
     */
    onChange(listener) {
      if (typeof listener !== 'function') throw new TypeError('onChange: listener must be a function');
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    /** The user of the stored session, or null; no network. */
    getUser() {
      return session ? session.user : null;
    },

    /** Whether there is a stored session (it may still turn out expired or revoked). */
    isLoggedIn() {
      return session !== null;
    },
  };
}

// A 401 that is about another credential than the user's session: a server-to-server route
// (POST /messages) wants a service token, which no refresh or login can produce.
const NOT_ABOUT_THE_SESSION = ['invalid_service_token'];

/**
 * Whether a 401 refuses the user's session (so a refresh or a new login may help).
 *
 * @param {{statusCode: number, data: any}} answer
 */
function refusesTheSession(answer) {
  return NOT_ABOUT_THE_SESSION.indexOf(serverErrorOf(401, parsedBody(answer.data)).code) < 0;
}

/**
 * A refresh answered with this status will never succeed with the same token: 401 (expired,
 * revoked, reused) or another client error (a token the server cannot even read). Not 408 or
 * 429, which pass.
 *
 * @param {number} status
 */
function refreshTokenIsDead(status) {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** @param {number} status */
function isSuccess(status) {
  return status >= 200 && status < 300;
}

/**
 * @param {Record<string, string> | undefined} header
 * @param {string} token
 * @returns {Record<string, string>}
 */
function withAuthorization(header, token) {
  /** @type {Record<string, string>} */
  const result = {};
  if (isObject(header)) {
    Object.keys(header).forEach((name) => {
      if (name.toLowerCase() !== 'authorization') result[name] = header[name];
    });
  }
  result.Authorization = 'Bearer ' + token;
  return result;
}

/** @param {unknown} value */
function normalizedBaseUrl(value) {
  if (typeof value !== 'string' || !/^https?:\/\/[^/?#]+/.test(value)) {
    throw new TypeError('createAuth: baseUrl must be an http(s) URL, e.g. "https://login.example.com"');
  }
  return value.replace(/\/+$/, '');
}

/**
 * @param {unknown} value
 * @param {string} name
 * @returns {string | undefined}
 */
function optionalText(value, name) {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new TypeError('createAuth: ' + name + ' must be a string');
  return value;
}

/**
 * @param {unknown} value
 * @param {string} name
 * @returns {string}
 */
function requireText(value, name) {
  if (typeof value !== 'string' || !value.trim()) throw new TypeError(name + ' must be non-empty text');
  return value;
}

