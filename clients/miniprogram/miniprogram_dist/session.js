'use strict';
// Generated from src/session.mjs by scripts/build-cjs.mjs; edit the source, then run `npm run build`.
// The session as the mini program keeps it: our two tokens, when to refresh, and the user.
// Never the session_key (the server keeps it and never sends it). Stored under one key per
// (baseUrl, appid), so two backends or two apps in one mini program do not share tokens.

const { isObject } = require('./errors.js');

/**
 * @typedef {import('./answers.js').User} User
 * @typedef {object} Session
 * @property {string} accessToken
 * @property {string} refreshToken
 * @property {number} expiresAt   ms on the SDK's clock: the access token is refused after it
 * @property {number} refreshAt   ms: from here on, refresh before using the token
 * @property {User} user
 * @property {number} generation  the same across refreshes of one login, new for each login
 */

const FORMAT = 1;

/**
 * @param {string} baseUrl
 * @param {string | undefined} appid
 * @returns {string}
 */
function defaultStorageKey(baseUrl, appid) {
  return 'wxlogin:' + baseUrl + (appid ? '#' + appid : '');
}

/**
 * When the session should be refreshed: `margin` before expiry, but never in the first half
 * of a short-lived token's life.
 *
 * @param {number} now ms
 * @param {number} expiresIn seconds
 * @param {number} marginMs
 * @returns {{expiresAt: number, refreshAt: number}}
 */
function lifetime(now, expiresIn, marginMs) {
  const lifeMs = expiresIn * 1000;
  return { expiresAt: now + lifeMs, refreshAt: now + lifeMs - Math.min(marginMs, lifeMs / 2) };
}

/**
 * @param {import('./platform.js').Platform} platform
 * @param {string} key
 */
function sessionStorage(platform, key) {
  return {
    /** @returns {Session | null} the stored session, or null when there is none usable */
    load() {
      const stored = platform.readStorage(key);
      if (stored === null) return null;
      const session = parse(stored);
      // Something else under our key (an older format, a hand edit): start afresh.
      if (!session) platform.removeStorage(key);
      return session;
    },
    /** @param {Session} session */
    save(session) {
      platform.writeStorage(key, {
        format: FORMAT,
        access_token: session.accessToken,
        refresh_token: session.refreshToken,
        expires_at: session.expiresAt,
        refresh_at: session.refreshAt,
        user: session.user,
      });
    },
    clear() {
      platform.removeStorage(key);
    },
  };
}

/**
 * @param {unknown} stored
 * @returns {Session | null}
 */
function parse(stored) {
  const value = typeof stored === 'string' ? safeJson(stored) : stored;
  if (!isObject(value) || value.format !== FORMAT) return null;
  const { access_token, refresh_token, expires_at, refresh_at, user } = value;
  if (typeof access_token !== 'string' || !access_token) return null;
  if (typeof refresh_token !== 'string' || !refresh_token) return null;
  if (typeof expires_at !== 'number' || typeof refresh_at !== 'number') return null;
  if (!isObject(user) || typeof user.id !== 'string') return null;
  return {
    accessToken: access_token,
    refreshToken: refresh_token,
    expiresAt: expires_at,
    refreshAt: refresh_at,
    user: /** @type {User} */ (user),
    generation: 0,
  };
}

/** @param {string} text */
function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    return null;
  }
}

exports.defaultStorageKey = defaultStorageKey;
exports.lifetime = lifetime;
exports.sessionStorage = sessionStorage;
