// The server's answers, checked before anything of them is used or stored: a token that is
// missing must be an error here, not `undefined` in storage and a mystery 401 later.

import { BadResponseError, isObject } from './errors.mjs';

/**
 * @typedef {object} User
 * @property {string} id
 * @property {string | null} unionid
 * @property {{appid: string, openid: string}[]} identities
 * @property {string | null} phone
 * @property {string | null} nickname
 * @property {string | null} avatar_url
 * @property {string} created_at
 * @property {string | null} last_login_at
 */

/**
 * @typedef {object} TokenAnswer
 * @property {string} accessToken
 * @property {string} refreshToken
 * @property {number} expiresIn  seconds
 */

// Far more than any token we issue, far less than the 1 MB a storage key holds.
const MAX_TOKEN_LENGTH = 4096;

/**
 * The token part of /auth/login and /auth/refresh answers.
 *
 * @param {unknown} body
 * @param {number} status
 * @param {string} route for the error message
 * @returns {TokenAnswer}
 */
export function readTokens(body, status, route) {
  if (!isObject(body)) throw new BadResponseError(route + ': the body is not a JSON object', status);
  const accessToken = body.access_token;
  const refreshToken = body.refresh_token;
  const expiresIn = body.expires_in;
  if (!isToken(accessToken)) throw new BadResponseError(route + ': no usable access_token', status);
  if (!isToken(refreshToken)) throw new BadResponseError(route + ': no usable refresh_token', status);
  if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
    throw new BadResponseError(route + ': token_type is not Bearer', status);
  }
  if (typeof expiresIn !== 'number' || !isFinite(expiresIn) || expiresIn <= 0) {
    throw new BadResponseError(route + ': expires_in is not a positive number', status);
  }
  return { accessToken, refreshToken, expiresIn };
}

/**
 * A user, as GET /me, POST /me/phone, POST /me/profile, POST /me/avatar and the login answer.
 *
 * @param {unknown} body
 * @param {number} status
 * @param {string} route
 * @returns {User}
 */
export function readUser(body, status, route) {
  if (!isObject(body)) throw new BadResponseError(route + ': the user is not a JSON object', status);
  if (typeof body.id !== 'string' || !body.id) {
    throw new BadResponseError(route + ': the user has no id', status);
  }
  if (!Array.isArray(body.identities)) {
    throw new BadResponseError(route + ': the user has no identities list', status);
  }
  for (const field of ['unionid', 'phone', 'nickname', 'avatar_url']) {
    const value = body[field];
    if (value !== null && value !== undefined && typeof value !== 'string') {
      throw new BadResponseError(route + ': user.' + field + ' is not text', status);
    }
  }
  return /** @type {User} */ (body);
}

/**
 * @param {unknown} body
 * @param {number} status
 * @returns {boolean}
 */
export function readNewUser(body, status) {
  const flag = isObject(body) ? body.new_user : undefined;
  if (typeof flag !== 'boolean') throw new BadResponseError('login: new_user is not a boolean', status);
  return flag;
}

/**
 * A body that may still be the raw text (wx.uploadFile never parses; wx.request leaves text
 * that is not JSON as it is).
 *
 * @param {unknown} data
 * @returns {unknown}
 */
export function parsedBody(data) {
  if (typeof data !== 'string') return data;
  if (!data) return null;
  try {
    return JSON.parse(data);
  } catch (error) {
    return data;
  }
}

/**
 * @param {unknown} value
 * @returns {value is string}
 */
function isToken(value) {
  // No whitespace or control characters: it goes into an HTTP header as it is.
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_TOKEN_LENGTH &&
    /^[\x21-\x7e]+$/.test(value)
  );
}
