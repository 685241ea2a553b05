// WeChat Pay, the mini program's half: pay an order the host app's backend created.
//
// The rules it keeps (shared/wechatpay-api.md):
// - The amount is never the mini program's. The order already exists on the server (the host
//   app's backend made it, with its service token); the SDK asks for the signed
//   wx.requestPayment parameters of an order this user owns (POST /pay/orders/{id}/params).
// - requestPayment:ok is no proof of payment, and a signature problem can surface as
//   "fail cancel". So whatever the sheet said, the SDK then asks the server
//   (GET /me/orders/{id}, which asks WeChat Pay about a recent unpaid order), and the
//   server's word wins: an order it says is paid is 'paid'.
// - Right after ok the order may still read unpaid (WeChat Pay's books or its callback are a
//   moment behind): ask again a few times, waiting longer each time, bounded in time, then
//   answer 'pending' — the page says "confirming" and looks again later.

import { BadResponseError, isObject } from './errors.mjs';

export const PAY_STATUSES = ['paid', 'cancelled', 'failed', 'pending'];
// 7.5 s of asking in all after requestPayment:ok, then 'pending'.
export const DEFAULT_PAY_CHECK_DELAYS_MS = [500, 1000, 2000, 4000];
const ORDER_STATES = ['created', 'paid', 'closed', 'partially_refunded', 'refunded'];
// Paid, whatever was refunded since: the payment happened.
const PAID_STATES = ['paid', 'partially_refunded', 'refunded'];
const ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_CHECKS = 10;
const MAX_DELAY_MS = 30000;
const PARAM_NAMES = ['timeStamp', 'nonceStr', 'package', 'signType', 'paySign'];

/**
 * @typedef {object} PaymentParams  wx.requestPayment's parameters, as the server signed them
 * @property {string} timeStamp
 * @property {string} nonceStr
 * @property {string} package   "prepay_id=…"
 * @property {string} signType  "RSA"
 * @property {string} paySign
 *
 * @typedef {object} Order  as GET /me/orders/{id} answers it; amounts in fen
 * @property {string} id
 * @property {string} state  created | paid | closed | partially_refunded | refunded
 * @property {number} amount
 *
 * @typedef {{ok: boolean, errMsg: string}} SheetAnswer  how wx.requestPayment ended
 *
 * @typedef {object} PayResult
 * @property {'paid' | 'cancelled' | 'failed' | 'pending'} status
 * @property {Order | null} order  as the server last told it; null when it could not be asked
 * @property {string} errMsg  wx.requestPayment's own, e.g. "requestPayment:fail cancel"
 */

/**
 * The order id as a path segment, or a TypeError.
 *
 * @param {unknown} orderId
 * @returns {string}
 */
export function checkedOrderId(orderId) {
  if (typeof orderId !== 'string' || !ORDER_ID.test(orderId)) {
    throw new TypeError('pay: orderId must be the id of an order the server created (letters, digits, - and _)');
  }
  return orderId;
}

/**
 * The waits between checks after requestPayment:ok (ms), or a TypeError.
 *
 * @param {unknown} delays
 * @returns {number[]}
 */
export function checkedDelays(delays) {
  if (delays === undefined) return DEFAULT_PAY_CHECK_DELAYS_MS.slice();
  const fits = (/** @type {unknown} */ ms) => typeof ms === 'number' && isFinite(ms) && ms >= 0 && ms <= MAX_DELAY_MS;
  if (!Array.isArray(delays) || delays.length > MAX_CHECKS || !delays.every(fits)) {
    throw new TypeError(
      'createAuth: payCheckDelays must be at most ' + MAX_CHECKS + ' waits in ms, each 0 to ' + MAX_DELAY_MS,
    );
  }
  return delays.slice();
}

/**
 * @param {unknown} body
 * @param {number} status
 * @returns {PaymentParams}
 */
export function readPaymentParams(body, status) {
  if (!isObject(body)) throw new BadResponseError('payment params: the body is not a JSON object', status);
  /** @type {Record<string, string>} */
  const params = {};
  PARAM_NAMES.forEach((name) => {
    const value = body[name];
    if (typeof value !== 'string' || !value) throw new BadResponseError('payment params: no ' + name, status);
    params[name] = value;
  });
  if (params.package.indexOf('prepay_id=') !== 0) {
    throw new BadResponseError('payment params: package is not "prepay_id=…"', status);
  }
  return /** @type {PaymentParams} */ (/** @type {unknown} */ (params));
}

/**
 * @param {unknown} body
 * @param {number} status
 * @returns {Order}
 */
export function readOrder(body, status) {
  if (!isObject(body) || typeof body.id !== 'string' || ORDER_STATES.indexOf(body.state) < 0) {
    throw new BadResponseError('order: no id or no known state', status);
  }
  return /** @type {Order} */ (body);
}

/**
 * Pay one order: its parameters, the sheet, then the server's word on what happened.
 * Rejects only before the sheet opens (the parameters could not be had: a ServerError such
 * as 409 order_not_payable, a NetworkError, ...); after it, always resolves.
 *
 * @param {{
 *   params: () => Promise<PaymentParams>,
 *   requestPayment: (params: PaymentParams) => Promise<SheetAnswer>,
 *   order: () => Promise<Order>,
 *   delays: number[],
 *   wait: (ms: number) => Promise<void>,
 * }} steps
 * @returns {Promise<PayResult>}
 */
export async function payOrder(steps) {
  const params = await steps.params();
  const sheet = await steps.requestPayment(params);
  const cancelled = !sheet.ok && /cancel/i.test(sheet.errMsg);
  // Only an ok is worth waiting for: after a cancel or a failure one look is enough.
  const delays = sheet.ok ? steps.delays : [];
  /** @type {Order | null} */
  let order = null;
  for (let attempt = 0; ; attempt += 1) {
    order = (await orderOrNull(steps.order)) || order;
    if (order && PAID_STATES.indexOf(order.state) >= 0) return { status: 'paid', order, errMsg: sheet.errMsg };
    if ((order && order.state !== 'created') || attempt >= delays.length) break;
    await steps.wait(delays[attempt]);
  }
  /** @type {PayResult['status']} */
  let status = cancelled ? 'cancelled' : 'failed';
  // An ok whose order is still open is not known to have failed; a closed one will never pay.
  if (sheet.ok) status = order && order.state === 'closed' ? 'failed' : 'pending';
  return { status, order, errMsg: sheet.errMsg };
}

/**
 * The order as the server tells it now, or null when it cannot be asked (offline, a 5xx, the
 * session gone): after the sheet, that must not turn a payment into an error.
 *
 * @param {() => Promise<Order>} ask
 * @returns {Promise<Order | null>}
 */
async function orderOrNull(ask) {
  try {
    return await ask();
  } catch (error) {
    if (error instanceof TypeError) throw error; // our own bug, not the network's
    return null;
  }
}
