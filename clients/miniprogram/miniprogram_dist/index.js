'use strict';
// Generated from src/index.mjs by scripts/build-cjs.mjs; edit the source, then run `npm run build`.
// wxlogin-miniprogram: the mini-program half of wxlogin, for wx and uni-app.
// This ES module is the source; miniprogram_dist/ is the CommonJS build of it
// (scripts/build-cjs.mjs) that WeChat DevTools' "构建 npm" takes.

const _auth = require('./auth.js');
const _errors = require('./errors.js');
const _pay = require('./pay.js');
const _subscribe = require('./subscribe.js');

exports.createAuth = _auth.createAuth;
exports.AuthError = _errors.AuthError;
exports.BadResponseError = _errors.BadResponseError;
exports.ErrorKind = _errors.ErrorKind;
exports.NetworkError = _errors.NetworkError;
exports.NotLoggedInError = _errors.NotLoggedInError;
exports.ServerError = _errors.ServerError;
exports.UserDeniedError = _errors.UserDeniedError;
exports.WxApiError = _errors.WxApiError;
exports.PAY_STATUSES = _pay.PAY_STATUSES;
exports.MAX_TEMPLATES_PER_REQUEST = _subscribe.MAX_TEMPLATES_PER_REQUEST;
exports.SUBSCRIBE_RESULTS = _subscribe.SUBSCRIBE_RESULTS;
