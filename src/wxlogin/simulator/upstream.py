"""The seven WeChat endpoints, as api.weixin.qq.com answers them.

Each handler takes the parsed query string and the raw body and returns an ``Answer``; HTTP
plumbing (routing, faults, latency) is ``app``'s job and the rules live in ``state.World``.
Parameter checks come first, in the order WeChat reports them: missing appid (41002), missing
secret (41004), missing code (41008), grant_type (40002), unknown appid (40013), wrong secret
(40125); then the access_token on token-protected calls (41001/40014/40001/42001).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import orjson

from wxlogin.simulator.state import App, Refused, World
from wxlogin.simulator.wire import Answer, error_answer, json_answer
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import ErrCode

__all__ = ["Handler", "Upstream"]

Query = dict[str, str]
Handler = Callable[[Query, bytes], Answer]


def _secret_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _json_object(body: bytes) -> dict[str, Any]:
    """A POST body as WeChat wants it: a JSON object, else 47001 data format error."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused(ErrCode.DATA_FORMAT_ERROR) from None
    if not isinstance(data, dict):
        raise Refused(ErrCode.DATA_FORMAT_ERROR)
    return data


def _str_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refused(ErrCode.DATA_FORMAT_ERROR)
    return value


class Upstream:
    """Handlers for the WeChat paths, bound to one ``World``."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._clock = world.clock

    def handlers(self) -> dict[str, Handler]:
        """Path -> handler, for the router."""
        return {
            wx.CODE2SESSION: self.code2session,
            wx.TOKEN: self.token,
            wx.STABLE_TOKEN: self.stable_token,
            wx.CHECK_SESSION: self.check_session,
            wx.RESET_SESSION_KEY: self.reset_session_key,
            wx.PHONE_NUMBER: self.phone_number,
            wx.PAID_UNIONID: self.paid_unionid,
        }

    def _app(self, appid: str | None, secret: str | None) -> App:
        app = self._world.apps.get(appid or "")
        if app is None:
            raise Refused(ErrCode.INVALID_APPID)
        if not _secret_matches(secret or "", app.secret):
            raise Refused(ErrCode.INVALID_APPSECRET)
        return app

    @staticmethod
    def _require_credentials(appid: str | None, secret: str | None) -> None:
        if not appid:
            raise Refused(ErrCode.APPID_MISSING)
        if not secret:
            raise Refused(ErrCode.APPSECRET_MISSING)

    # ------------------------------------------------------------------ login

    def code2session(self, query: Query, body: bytes) -> Answer:
        """``GET /sns/jscode2session`` — the hot path: keep it lean."""
        try:
            appid = query.get("appid")
            secret = query.get("secret")
            self._require_credentials(appid, secret)
            js_code = query.get("js_code")
            if not js_code:
                raise Refused(ErrCode.CODE_MISSING)
            if query.get("grant_type") != "authorization_code":
                raise Refused(ErrCode.INVALID_GRANT_TYPE)
            member = self._world.exchange_code(self._app(appid, secret), js_code)
        except Refused as refusal:
            return error_answer(wx.CODE2SESSION, refusal.errcode, self._clock())
        assert member.session is not None  # exchange_code guarantees a valid key
        data = {"session_key": member.session.value, "openid": member.openid}
        if member.unionid is not None:
            data["unionid"] = member.unionid
        return json_answer(wx.CODE2SESSION, data)

    # ------------------------------------------------------------------ access tokens

    def token(self, query: Query, body: bytes) -> Answer:
        """``GET /cgi-bin/token``: every success mints a new token."""
        try:
            appid = query.get("appid")
            secret = query.get("secret")
            self._require_credentials(appid, secret)
            if query.get("grant_type") != "client_credential":
                raise Refused(ErrCode.INVALID_GRANT_TYPE)
            token = self._world.plain_token(self._app(appid, secret))
        except Refused as refusal:
            return error_answer(wx.TOKEN, refusal.errcode, self._clock())
        return json_answer(
            wx.TOKEN,
            {"access_token": token.value, "expires_in": self._world.config.access_token_ttl},
        )

    def stable_token(self, query: Query, body: bytes) -> Answer:
        """``POST /cgi-bin/stable_token`` with a JSON body."""
        try:
            data = _json_object(body)
            appid = _str_field(data, "appid")
            secret = _str_field(data, "secret")
            self._require_credentials(appid, secret)
            if data.get("grant_type") != "client_credential":
                raise Refused(ErrCode.INVALID_GRANT_TYPE)
            force = data.get("force_refresh", False)
            if not isinstance(force, bool):
                raise Refused(ErrCode.DATA_FORMAT_ERROR)
            app = self._app(appid, secret)
            token = self._world.stable_token(app, force_refresh=force)
        except Refused as refusal:
            return error_answer(wx.STABLE_TOKEN, refusal.errcode, self._clock())
        # Normal mode returns the same token with whatever life it has left.
        expires_in = max(int(token.expires_at - self._clock()), 1)
        return json_answer(wx.STABLE_TOKEN, {"access_token": token.value, "expires_in": expires_in})

    # ------------------------------------------------------------------ session keys

    def _signed_user_call(self, query: Query) -> tuple[App, str, str]:
        app = self._world.app_for_token(query.get("access_token"))
        openid = query.get("openid")
        signature = query.get("signature")
        if not openid or not signature:
            raise Refused(ErrCode.INVALID_ARGS)
        if query.get("sig_method") != wx.SIG_METHOD:
            raise Refused(ErrCode.INVALID_SIG_METHOD)
        return app, openid, signature

    def check_session(self, query: Query, body: bytes) -> Answer:
        """``GET /wxa/checksession``: is this signature made with the user's current key?"""
        try:
            app, openid, signature = self._signed_user_call(query)
            self._world.check_session(app, openid, signature)
        except Refused as refusal:
            return error_answer(wx.CHECK_SESSION, refusal.errcode, self._clock())
        return json_answer(wx.CHECK_SESSION, {"errcode": 0, "errmsg": "ok"})

    def reset_session_key(self, query: Query, body: bytes) -> Answer:
        """``GET /wxa/resetusersessionkey``: a new key with the old one's expiry."""
        try:
            app, openid, signature = self._signed_user_call(query)
            member = self._world.reset_session_key(app, openid, signature)
        except Refused as refusal:
            return error_answer(wx.RESET_SESSION_KEY, refusal.errcode, self._clock())
        assert member.session is not None
        return json_answer(
            wx.RESET_SESSION_KEY,
            {
                "errcode": 0,
                "errmsg": "ok",
                "openid": member.openid,
                "session_key": member.session.value,
            },
        )

    # ------------------------------------------------------------------ phone / unionid

    def phone_number(self, query: Query, body: bytes) -> Answer:
        """``POST /wxa/business/getuserphonenumber`` with ``{"code"}``."""
        try:
            app = self._world.app_for_token(query.get("access_token"))
            code = _str_field(_json_object(body), "code")
            if not code:
                raise Refused(ErrCode.DATA_FORMAT_ERROR)
            record = self._world.redeem_phone_code(app, code)
        except Refused as refusal:
            return error_answer(wx.PHONE_NUMBER, refusal.errcode, self._clock())
        phone = record.phone
        return json_answer(
            wx.PHONE_NUMBER,
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone.display,
                    "purePhoneNumber": phone.pure,
                    "countryCode": phone.country_code,
                    "watermark": {"timestamp": int(self._clock()), "appid": app.appid},
                },
            },
        )

    def paid_unionid(self, query: Query, body: bytes) -> Answer:
        """``GET /wxa/getpaidunionid``: the payer's unionid within 5 minutes of paying."""
        try:
            app = self._world.app_for_token(query.get("access_token"))
            unionid = self._world.paid_unionid(
                app,
                query.get("openid", ""),
                transaction_id=query.get("transaction_id"),
                mch_id=query.get("mch_id"),
                out_trade_no=query.get("out_trade_no"),
            )
        except Refused as refusal:
            return error_answer(wx.PAID_UNIONID, refusal.errcode, self._clock())
        return json_answer(wx.PAID_UNIONID, {"unionid": unionid, "errcode": 0, "errmsg": "ok"})

    def require_post(self, path: str) -> Handler:
        """The answer to a GET on a POST-only endpoint: 43002 ``require POST method``."""

        def handler(query: Query, body: bytes) -> Answer:
            return error_answer(path, ErrCode.REQUIRE_POST, self._clock())

        return handler
