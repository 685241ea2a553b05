"""``WeChatClient``: the typed async client for the WeChat APIs a login needs.

Wire rules it lives by (shared/wechat-api.md): HTTP 200 even on errors; the error is
``errcode``/``errmsg`` in a JSON body whose Content-Type may be ``text/plain``; a missing
``errcode`` means success. Every non-zero errcode becomes the specific exception from
``wxlogin.errors``.

Retries: each method states what is safe to retry. "Unsent only" means a retry happens only
when the connection failed before the request left (nothing can have been consumed);
"transient" adds timeouts, WeChat's ``-1 system error`` and gateway 5xx, for calls that change
nothing upstream. Retries are bounded (``max_retries``) with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Self

import orjson

from wxlogin.cache.base import Cache
from wxlogin.cache.memory import MemoryCache
from wxlogin.errors import (
    BadUpstreamResponse,
    InvalidCode,
    InvalidCredential,
    InvalidRequest,
    InvalidSignature,
    SessionKeyExpired,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    WeChatError,
    WxLoginError,
    error_for_errcode,
)
from wxlogin.metrics import ACCESS_TOKEN_FETCHES, observe_upstream
from wxlogin.wechat import protocol as wx
from wxlogin.wechat._access_token import AccessTokenCache
from wxlogin.wechat.results import PhoneInfo, Session, SessionKeyReset
from wxlogin.wechat.transport import HttpMethod, HttpResponse, Transport

__all__ = ["MiniprogramState", "SubscribeLang", "TokenEndpoint", "WeChatClient"]

_log = logging.getLogger("wxlogin.wechat")

TokenEndpoint = Literal["stable", "plain"]
# Which version of the mini program a subscribe message's card opens, and in which language.
MiniprogramState = Literal["developer", "trial", "formal"]
SubscribeLang = Literal["zh_CN", "en_US", "zh_HK", "zh_TW"]
# An access_token lives 7200 s; an answer claiming more than a day is not WeChat's.
_MAX_TOKEN_LIFETIME = 86_400
Sleep = Callable[[float], Awaitable[None]]


class _Retry(enum.Enum):
    UNSENT_ONLY = "unsent-only"
    TRANSIENT = "transient"

    def allows(self, exc: WxLoginError) -> bool:
        if isinstance(exc, UpstreamError) and not exc.request_sent:
            return True
        if self is _Retry.UNSENT_ONLY:
            return False
        if isinstance(exc, UpstreamTimeout | UpstreamUnavailable | UpstreamBusy):
            return True
        return isinstance(exc, BadUpstreamResponse) and exc.retryable


# getuserphonenumber gives 40013 its own meaning: a phone code minted for another app.
_PHONE_ERRCODES: dict[int, type[WeChatError]] = {wx.ErrCode.INVALID_APPID: InvalidCode}


class WeChatClient:
    """Async client for one mini program (one appid + AppSecret).

    Use it as ``async with WeChatClient(appid, secret) as wechat: ...`` or call ``aclose()``.
    One client holds one pooled connection set; share it across requests.

    ``transport`` replaces the network (e.g. ``AsgiTransport(simulator_app)``); ``token_store``
    shares the access_token across processes (a ``RedisCache``); ``clock`` and ``sleep`` are
    injectable so tests never wait.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str = wx.DEFAULT_BASE_URL,
        timeout: float = 5.0,
        transport: Transport | None = None,
        token_store: Cache | None = None,
        token_endpoint: TokenEndpoint = "stable",
        token_refresh_margin: float = 300.0,
        max_retries: int = 2,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not appid:
            raise InvalidRequest("appid is required")
        if not secret:
            raise InvalidRequest("the AppSecret is required")
        self.appid = appid
        self._secret = secret
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._owns_transport = transport is None
        self._transport = transport
        self._token_endpoint = token_endpoint
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._tokens = AccessTokenCache(
            key=f"access_token:{appid}:{token_endpoint}",
            store=token_store if token_store is not None else MemoryCache(clock=clock),
            fetch=self._counted_fetch,
            clock=clock,
            margin=token_refresh_margin,
            lock_ttl=timeout * (max_retries + 1) + 1.0,
        )

    def __repr__(self) -> str:
        return f"WeChatClient(appid={self.appid!r}, base_url={self._base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop a token refresh in flight; close the connection pool if this client made it."""
        await self._tokens.aclose()
        if self._owns_transport and self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    # ------------------------------------------------------------------ login

    async def code_to_session(self, js_code: str) -> Session:
        """Trade a ``wx.login`` code for openid, session_key and (maybe) unionid.

        Needs no access_token, by design: login must not depend on the token quota.
        Retries: unsent only — a code is single-use, and a request that reached WeChat may have
        consumed it, so a blind retry would turn a success into 40163.
        """
        if not js_code:
            raise InvalidRequest("js_code is required")
        data = await self._call(
            "GET",
            wx.CODE2SESSION,
            params={
                "appid": self.appid,
                "secret": self._secret,
                "js_code": js_code,
                "grant_type": "authorization_code",
            },
            retry=_Retry.UNSENT_ONLY,
        )
        return Session(
            openid=_shaped(data, "openid", wx.ANSWER_ID_RE),
            session_key=_shaped(data, "session_key", wx.ANSWER_SESSION_KEY_RE),
            unionid=_optional_shaped(data, "unionid", wx.ANSWER_ID_RE),
        )

    # ------------------------------------------------------------------ access_token

    async def get_access_token(self) -> str:
        """A valid access_token, from the cache when possible.

        At most one fetch runs at a time per process (and per cache, across processes);
        tokens are refreshed ``token_refresh_margin`` seconds before expiry.
        """
        return await self._tokens.get()

    async def _counted_fetch(self) -> tuple[str, int]:
        try:
            fetched = await self._fetch_access_token()
        except WxLoginError as exc:
            ACCESS_TOKEN_FETCHES.labels(self.appid, exc.code).inc()
            raise
        ACCESS_TOKEN_FETCHES.labels(self.appid, "ok").inc()
        return fetched

    async def _fetch_access_token(self) -> tuple[str, int]:
        if self._token_endpoint == "stable":
            # Normal-mode stable_token returns the current token, so retrying it is harmless.
            data = await self._call(
                "POST",
                wx.STABLE_TOKEN,
                json_body={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self._secret,
                    "force_refresh": False,
                },
                retry=_Retry.TRANSIENT,
            )
        else:
            # Every plain /cgi-bin/token call mints a new token and burns daily quota: unsent only.
            data = await self._call(
                "GET",
                wx.TOKEN,
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self._secret,
                },
                retry=_Retry.UNSENT_ONLY,
            )
        token = _shaped(data, "access_token", wx.ANSWER_ACCESS_TOKEN_RE)
        expires_in = data.get("expires_in")
        if type(expires_in) is not int or not 0 < expires_in <= _MAX_TOKEN_LIFETIME:
            raise BadUpstreamResponse("the token response has no valid expires_in")
        return token, expires_in

    async def _call_with_token(
        self,
        method: HttpMethod,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        retry: _Retry,
        errcodes: dict[int, type[WeChatError]] | None = None,
    ) -> dict[str, Any]:
        # WeChat refuses a bad token before acting, so one retry with a fresh token is safe
        # for every call. Only one: a second refusal means something else is wrong.
        for attempt in (1, 2):
            token = await self.get_access_token()
            try:
                return await self._call(
                    method,
                    path,
                    params={**(params or {}), "access_token": token},
                    json_body=json_body,
                    retry=retry,
                    errcodes=errcodes,
                )
            except InvalidCredential as exc:
                if attempt == 2:
                    raise
                _log.warning("access_token rejected (errcode %s); refreshing once", exc.errcode)
                await self._tokens.expire(token)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ session_key

    async def check_session_key(self, openid: str, session_key: str) -> bool:
        """True when WeChat still holds ``session_key`` as this user's current key.

        A stale, rotated or unknown key answers False (WeChat's 87009; 87007, "no key", is
        read the same way). Retries: transient (a read).
        """
        try:
            await self._call_with_token(
                "GET",
                wx.CHECK_SESSION,
                params={
                    "openid": openid,
                    "signature": _session_signature(session_key),
                    "sig_method": wx.SIG_METHOD,
                },
                retry=_Retry.TRANSIENT,
            )
        except (InvalidSignature, SessionKeyExpired):
            return False
        return True

    async def reset_session_key(self, openid: str, session_key: str) -> SessionKeyReset:
        """Replace the user's session_key; the old one stops working.

        Retries: unsent only — a lost answer after WeChat acted would leave us without the new
        key and with a dead old one.
        """
        data = await self._call_with_token(
            "GET",
            wx.RESET_SESSION_KEY,
            params={
                "openid": openid,
                "signature": _session_signature(session_key),
                "sig_method": wx.SIG_METHOD,
            },
            retry=_Retry.UNSENT_ONLY,
        )
        return SessionKeyReset(
            openid=_shaped(data, "openid", wx.ANSWER_ID_RE),
            session_key=_shaped(data, "session_key", wx.ANSWER_SESSION_KEY_RE),
        )

    # ------------------------------------------------------------------ phone / unionid

    async def get_phone_number(self, code: str) -> PhoneInfo:
        """Trade a phone-number button code (``e.detail.code``) for the phone number.

        Retries: unsent only — the code is single-use.
        """
        if not code:
            raise InvalidRequest("code is required")
        data = await self._call_with_token(
            "POST",
            wx.PHONE_NUMBER,
            json_body={"code": code},
            retry=_Retry.UNSENT_ONLY,
            errcodes=_PHONE_ERRCODES,
        )
        info = data.get("phone_info")
        if not isinstance(info, dict):
            raise BadUpstreamResponse("the phone response has no phone_info")
        watermark = info.get("watermark")
        if not isinstance(watermark, dict):
            watermark = {}
        # Documented as a string and sent as one; tolerate a number all the same.
        country = info.get("countryCode")
        if type(country) is int:
            country = str(country)
        timestamp = watermark.get("timestamp", 0)
        return PhoneInfo(
            phone_number=_shaped(info, "phoneNumber", wx.ANSWER_PHONE_RE),
            pure_phone_number=_shaped(info, "purePhoneNumber", wx.ANSWER_PURE_PHONE_RE),
            country_code=_shaped(
                {"countryCode": country}, "countryCode", wx.ANSWER_COUNTRY_CODE_RE
            ),
            watermark_appid=_optional_shaped(watermark, "appid", wx.ANSWER_ID_RE) or "",
            watermark_timestamp=timestamp if type(timestamp) is int else 0,
        )

    async def get_paid_unionid(
        self,
        openid: str,
        *,
        transaction_id: str | None = None,
        mch_id: str | None = None,
        out_trade_no: str | None = None,
    ) -> str:
        """The payer's unionid, within 5 minutes of a payment.

        Identify the payment by ``transaction_id`` or by ``mch_id`` + ``out_trade_no``.
        Retries: transient (a read).
        """
        params: dict[str, str] = {"openid": openid}
        if transaction_id and not (mch_id or out_trade_no):
            params["transaction_id"] = transaction_id
        elif mch_id and out_trade_no and not transaction_id:
            params |= {"mch_id": mch_id, "out_trade_no": out_trade_no}
        else:
            raise InvalidRequest("pass either transaction_id, or mch_id and out_trade_no")
        data = await self._call_with_token(
            "GET", wx.PAID_UNIONID, params=params, retry=_Retry.TRANSIENT
        )
        return _shaped(data, "unionid", wx.ANSWER_ID_RE)

    # ------------------------------------------------------------------ subscribe messages

    async def send_subscribe_message(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        page: str | None = None,
        state: MiniprogramState | None = None,
        lang: SubscribeLang | None = None,
    ) -> None:
        """Send a subscribe message: ``data`` maps each keyword (``thing1``) to its value.

        Each accept the user gave in ``wx.requestSubscribeMessage`` allows one send: without
        one, ``NotSubscribed`` (43101). A value that breaks its keyword's rule is
        ``InvalidMessageData`` (47003) naming the keyword — check values first with
        ``wxlogin.wechat.subscribe.check_message`` to hear it without a call. An unknown
        template is ``InvalidTemplate`` (40037), an openid not of this app ``InvalidOpenid``.
        ``state`` picks the mini-program version the card opens (``formal`` when left out).

        Retries: unsent only — a send that reached WeChat may have been delivered and spent
        the accept; sent again it would arrive twice, or fail with 43101.
        """
        if not openid or not template_id:
            raise InvalidRequest("openid and template_id are required")
        if not data or not all(isinstance(v, str) for v in data.values()):
            raise InvalidRequest("data must map each keyword to a string value")
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        if page is not None:
            body["page"] = page
        if state is not None:
            body["miniprogram_state"] = state
        if lang is not None:
            body["lang"] = lang
        await self._call_with_token(
            "POST", wx.SUBSCRIBE_SEND, json_body=body, retry=_Retry.UNSENT_ONLY
        )

    # ------------------------------------------------------------------ plumbing

    def _http(self) -> Transport:
        if self._transport is None:
            # Imported here so that code using only AsgiTransport never loads the HTTP library.
            from wxlogin.wechat._http import PooledHttpTransport

            self._transport = PooledHttpTransport()
        return self._transport

    async def _call(
        self,
        method: HttpMethod,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        retry: _Retry,
        errcodes: dict[int, type[WeChatError]] | None = None,
    ) -> dict[str, Any]:
        body = orjson.dumps(json_body) if json_body is not None else None
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = await self._http().request(
                    method,
                    self._base_url + path,
                    params=params or {},
                    json_body=body,
                    timeout=self._timeout,
                )
                data = self._parse(response, errcodes)
            except WxLoginError as exc:
                errcode = str(exc.errcode) if isinstance(exc, WeChatError) else exc.code
                observe_upstream("wechat", path, errcode, time.perf_counter() - started)
                _log.debug("%s %s failed: %s", method, path, exc.code)
                if attempt >= self._max_retries or not retry.allows(exc):
                    raise
                await self._sleep(_backoff(attempt))
                attempt += 1
                continue
            elapsed = time.perf_counter() - started
            observe_upstream("wechat", path, "0", elapsed)
            _log.debug("%s %s ok in %.1f ms", method, path, elapsed * 1e3)
            return data

    def _parse(
        self, response: HttpResponse, errcodes: dict[int, type[WeChatError]] | None
    ) -> dict[str, Any]:
        # WeChat sends JSON as text/plain on some endpoints: parse whatever the header says.
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise BadUpstreamResponse(
                f"WeChat answered HTTP {response.status} with a body that is not JSON",
                status=response.status,
            ) from None
        if not isinstance(data, dict):
            raise BadUpstreamResponse("WeChat answered with JSON that is not an object")
        errcode = data.get("errcode", 0)
        if type(errcode) is not int:  # a bool is an int to isinstance, never to us
            raise BadUpstreamResponse("WeChat answered with a non-numeric errcode")
        if errcode != 0:
            raise error_for_errcode(
                errcode, self._scrub(str(data.get("errmsg", ""))), overrides=errcodes
            )
        if response.status >= 400:
            raise BadUpstreamResponse(
                f"WeChat answered HTTP {response.status}", status=response.status
            )
        return data

    def _scrub(self, text: str) -> str:
        """Never let the AppSecret through in text WeChat echoes back."""
        return text.replace(self._secret, "***") if self._secret in text else text


def _session_signature(session_key: str) -> str:
    # HMAC-SHA256 of the empty body, keyed with the session_key *string* (not its decoded
    # bytes). Written here rather than imported from wxlogin.crypto on purpose: the simulator
    # checks signatures with wxlogin.crypto, so a slip in either one shows up in the tests.
    return hmac.new(session_key.encode("utf-8"), b"", hashlib.sha256).hexdigest()


def _shaped(data: Mapping[str, Any], key: str, shape: re.Pattern[str]) -> str:
    """``data[key]`` when it is a string of the expected shape; a bad answer otherwise (the
    message names the field, never the value: it may be huge, or a secret)."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BadUpstreamResponse(f"the WeChat response has no {key!r}")
    if shape.fullmatch(value) is None:
        raise BadUpstreamResponse(f"the WeChat response has a malformed {key!r}")
    return value


def _optional_shaped(data: Mapping[str, Any], key: str, shape: re.Pattern[str]) -> str | None:
    """As ``_shaped``, for a field WeChat may leave out (or send empty)."""
    if data.get(key) in (None, ""):
        return None
    return _shaped(data, key, shape)


def _backoff(attempt: int) -> float:
    """0.1 s, 0.2 s, 0.4 s, ... with ±50 % jitter, capped at 2 s."""
    base = min(0.1 * 2.0**attempt, 2.0)
    return base * (0.5 + random.random())  # noqa: S311 - jitter, not security
