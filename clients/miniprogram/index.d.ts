// Types of wxlogin-miniprogram.
//
// Self-contained on purpose: a uni-app project need not install miniprogram-api-typings to
// use them. The shapes that meet WeChat's (the wx object, the phone button's event, request
// options and answers) are checked against miniprogram-api-typings (a pinned dev dependency)
// in test/types.ts, so `createAuth({ platformApi: wx })` and `auth.bindPhone(e)` type-check
// in a TypeScript mini program with WechatMiniprogram's own types.

/** What `wx` / `uni` must offer: the callback forms only. */
export interface PlatformApi {
  login(options: {
    provider?: string;
    timeout?: number;
    success?: (result: { code: string; errMsg: string }) => void;
    fail?: (error: { errMsg: string; errno?: number }) => void;
  }): unknown;
  request(options: any): unknown;
  uploadFile(options: any): unknown;
  getStorageSync(key: string): any;
  setStorageSync(key: string, value: any): void;
  removeStorageSync(key: string): void;
  /** Needed only by `requestSubscribe`; absent on old base libraries and non-WeChat uni targets. */
  requestSubscribeMessage?(options: any): unknown;
  /** Needed only by `pay`: wx.requestPayment, or uni.requestPayment (called with provider 'wxpay'). */
  requestPayment?(options: any): unknown;
}

export interface AuthOptions {
  /** The wxlogin server, e.g. "https://login.example.com" (a legal request domain). */
  baseUrl: string;
  /** Sent with every login; needed when the server serves several mini programs. */
  appid?: string;
  /** Default 'wx'. 'uni' calls uni.login({provider: 'weixin'}). */
  platform?: 'wx' | 'uni';
  /** Storage key of the session; default "wxlogin:<baseUrl>#<appid>". */
  storageKey?: string;
  /** The wx / uni object; default the global one. */
  platformApi?: PlatformApi;
  /** The clock in ms (tests move it by hand); default Date.now. */
  now?: () => number;
  /** Seconds before the access token expires to refresh it; default 60. */
  refreshMargin?: number;
  /** ms for each HTTP call; default the platform's (60 s). */
  timeout?: number;
  /**
   * ms to wait before each new look at an order still unpaid right after requestPayment:ok
   * (at most 10 waits of at most 30 s); default [500, 1000, 2000, 4000]: 7.5 s in all, then
   * `pay` answers 'pending'.
   */
  payCheckDelays?: number[];
}

export interface Identity {
  appid: string;
  openid: string;
}

/** The user as GET /me answers it. */
export interface User {
  id: string;
  unionid: string | null;
  identities: Identity[];
  phone: string | null;
  nickname: string | null;
  avatar_url: string | null;
  /** RFC 3339 */
  created_at: string;
  last_login_at: string | null;
}

export interface LoginResult {
  user: User;
  newUser: boolean;
}

export type AuthEvent =
  | { type: 'login'; user: User; newUser: boolean }
  | { type: 'refresh'; user: User }
  | { type: 'user'; user: User }
  | { type: 'logout'; user: User; reason: 'logout' | 'session_ended' };

/** wx.request's methods: PATCH is not among them. */
export type RequestMethod = 'OPTIONS' | 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'TRACE' | 'CONNECT';

export interface RequestOptions {
  /** A path ("/orders") or a URL under baseUrl: the token goes nowhere else. */
  url: string;
  method?: RequestMethod;
  data?: string | Record<string, any> | ArrayBuffer;
  header?: Record<string, string>;
  timeout?: number;
}

export interface RequestAnswer<T = any> {
  statusCode: number;
  /** Parsed JSON when the body was JSON, else the text (wx.request's dataType "json"). */
  data: T;
  header: Record<string, string>;
}

export interface UploadOptions {
  url: string;
  filePath: string;
  /** The multipart field name. */
  name: string;
  formData?: Record<string, string>;
  header?: Record<string, string>;
  timeout?: number;
}

export interface UploadAnswer {
  statusCode: number;
  /** The raw body, as wx.uploadFile gives it. */
  data: string;
}

/** The getPhoneNumber button's detail (or the whole event: bindPhone takes either). */
export interface PhoneNumberDetail {
  errMsg: string;
  code?: string;
  errno?: number;
  encryptedData?: string;
  iv?: string;
}

/** The user's answer for one template in the subscribe dialog. */
export type SubscribeResult = 'accept' | 'reject' | 'ban' | 'filter';

/**
 * Template id → answer, for the ids asked for. An id WeChat gave no such answer for is left
 * out: treat it as not accepted.
 */
export type SubscribeResults = Record<string, SubscribeResult>;

/** An order's state on the server. Refunds happen after a payment: those states were paid. */
export type OrderState = 'created' | 'paid' | 'closed' | 'partially_refunded' | 'refunded';

/** An order as GET /me/orders/{id} answers it. Amounts in fen (分), CNY. */
export interface Order {
  id: string;
  appid: string;
  /** The order's number at WeChat Pay. */
  out_trade_no: string;
  description: string;
  amount: number;
  currency: string;
  state: OrderState;
  refunded_amount: number;
  /** RFC 3339 */
  created_at: string;
  expires_at: string;
  paid_at: string | null;
  closed_at: string | null;
  /** WeChat Pay's number, once paid. */
  transaction_id: string | null;
  attach: string | null;
}

/** wx.requestPayment's parameters, signed by the server (POST /pay/orders/{id}/params). */
export interface PaymentParams {
  timeStamp: string;
  nonceStr: string;
  /** "prepay_id=…" */
  package: string;
  /** "RSA" (WeChat Pay API v3) */
  signType: 'RSA' | 'MD5' | 'HMAC-SHA256';
  paySign: string;
}

/**
 * What came of `pay`, by the server's word after the sheet closed:
 * - 'paid': the server says the order is paid (whatever the sheet said);
 * - 'cancelled': the user closed the sheet ("requestPayment:fail cancel"), not paid;
 * - 'failed': the sheet failed (`errMsg` says why), or the order closed, not paid;
 * - 'pending': the sheet said ok but the order still reads unpaid after the checks: say
 *   "confirming" and look again later (`GET /me/orders/{id}`).
 */
export type PayStatus = 'paid' | 'cancelled' | 'failed' | 'pending';
export const PAY_STATUSES: readonly PayStatus[];

export interface PayResult {
  status: PayStatus;
  /** The order as the server last told it; null when it could not be asked after the sheet. */
  order: Order | null;
  /** wx.requestPayment's errMsg: "requestPayment:ok", "requestPayment:fail cancel", ... */
  errMsg: string;
}

/** At most this many template ids per `requestSubscribe` (WeChat's limit). */
export const MAX_TEMPLATES_PER_REQUEST: 5;
export const SUBSCRIBE_RESULTS: readonly SubscribeResult[];

export interface Auth {
  /** Log in now with a fresh wx.login code; joins a login already in flight. */
  login(): Promise<LoginResult>;
  /** The user of a usable session: logs in or refreshes only when needed. */
  ensureLogin(): Promise<User>;
  /** wx.request to the server with the token; resolves for any HTTP status, as wx.request does. */
  request<T = any>(options: RequestOptions): Promise<RequestAnswer<T>>;
  /** wx.uploadFile to the server with the token. */
  uploadFile(options: UploadOptions): Promise<UploadAnswer>;
  /** GET /me */
  me(): Promise<User>;
  /** The getPhoneNumber button's event → POST /me/phone. Never calls wx.login. */
  bindPhone(event: { detail: PhoneNumberDetail } | PhoneNumberDetail): Promise<User>;
  /** chooseAvatar's temporary file → POST /me/avatar (multipart field "file"). */
  uploadAvatar(tempFilePath: string): Promise<User>;
  /** POST /me/profile with the nickname from <input type="nickname">. */
  updateProfile(profile: { nickname?: string; avatarUrl?: string }): Promise<User>;
  /**
   * wx.requestSubscribeMessage for 1-5 template ids: each template's answer. Each 'accept'
   * lets the server send that template once (POST /messages, from the host app's backend).
   * Call it from a tap handler before any `await`: WeChat opens the dialog only inside the
   * tap's own turn. The user's switch turned off (errCode 20004) is a `UserDeniedError`;
   * other failures a `WxApiError` whose `errno` is WeChat's errCode.
   */
  requestSubscribe(tmplIds: string[]): Promise<SubscribeResults>;
  /**
   * Pay an order the host app's backend created for this user (the amount is the server's,
   * never the mini program's): its signed parameters, WeChat's pay sheet, then the server's
   * word on the order. Rejects only when the sheet could not open: a `ServerError` with code
   * 'order_not_payable' (409: paid, closed or expired) or 'not_found' (404), a
   * `NetworkError`, ... After the sheet it always resolves.
   */
  pay(orderId: string): Promise<PayResult>;
  /** Ends the session locally at once, then on the server. Idempotent; never rejects. */
  logout(): Promise<void>;
  /** Login, refresh, user and logout events; returns the unsubscribe function. */
  onChange(listener: (event: AuthEvent) => void): () => void;
  /** The stored user, or null; no network. */
  getUser(): User | null;
  /** Whether a session is stored (it may still turn out expired or revoked). */
  isLoggedIn(): boolean;
}

export function createAuth(options: AuthOptions): Auth;

export type ErrorKindName = 'network' | 'user_denied' | 'wx_api' | 'server' | 'bad_response' | 'not_logged_in';

export const ErrorKind: {
  readonly NETWORK: 'network';
  readonly USER_DENIED: 'user_denied';
  readonly WX_API: 'wx_api';
  readonly SERVER: 'server';
  readonly BAD_RESPONSE: 'bad_response';
  readonly NOT_LOGGED_IN: 'not_logged_in';
};

/** Every error the SDK rejects with; switch on `kind`. */
export class AuthError extends Error {
  readonly kind: ErrorKindName;
  readonly cause?: unknown;
}

/** wx.request / wx.uploadFile called `fail`: no HTTP answer. */
export class NetworkError extends AuthError {
  readonly kind: 'network';
  readonly errMsg: string;
}

/** The user refused (phone button deny / cancel; subscribe messages switched off). */
export class UserDeniedError extends AuthError {
  readonly kind: 'user_denied';
  readonly errMsg: string;
}

/** Another wx.* failure: wx.login failed, the phone quota is used up (errno 1400001), ... */
export class WxApiError extends AuthError {
  readonly kind: 'wx_api';
  readonly errMsg: string;
  readonly errno: number | undefined;
}

/** The server answered an error. */
export class ServerError extends AuthError {
  readonly kind: 'server';
  /** HTTP status */
  readonly status: number;
  /** The server's stable code: "invalid_code", "code_used", "user_blocked", "rate_limited", ... */
  readonly code: string;
  readonly serverMessage: string;
  readonly wechatErrcode: number | undefined;
}

/** A 2xx answer not in the promised shape; nothing of it was used. */
export class BadResponseError extends AuthError {
  readonly kind: 'bad_response';
  readonly status: number;
}

/** No session, and the call may not log in (bindPhone), or logging in did not help. */
export class NotLoggedInError extends AuthError {
  readonly kind: 'not_logged_in';
}
