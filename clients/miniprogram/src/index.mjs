// wxlogin-miniprogram: the mini-program half of wxlogin, for wx and uni-app.
// This ES module is the source; miniprogram_dist/ is the CommonJS build of it
// (scripts/build-cjs.mjs) that WeChat DevTools' "构建 npm" takes.

export { createAuth } from './auth.mjs';
export {
  AuthError,
  BadResponseError,
  ErrorKind,
  NetworkError,
  NotLoggedInError,
  ServerError,
  UserDeniedError,
  WxApiError,
} from './errors.mjs';
export { PAY_STATUSES } from './pay.mjs';
export { MAX_TEMPLATES_PER_REQUEST, SUBSCRIBE_RESULTS } from './subscribe.mjs';
