"""``WeChatPayClient``: the typed async client for WeChat Pay API v3, JSAPI (mini programs).

Wire rules it lives by (shared/wechatpay-api.md): JSON bodies and real HTTP statuses; every
request signed with the merchant key (``Authorization: WECHATPAY2-SHA256-RSA2048 ...``); every
answer signed by WeChat Pay in ``Wechatpay-*`` headers over the raw body, which is verified
before a byte of it is read (``wxlogin.pay.verify``). A 2xx answer that does not verify is an
``UntrustedPayResponse`` and nothing in it is used. Errors are ``{"code","message","detail"?}``
and become the specific ``PayApiError`` subclass; WeChat Pay does not sign every error answer,
so one without signature headers is raised with ``verified=False`` — errors are read as
refusals only, never as facts about an order (ask ``query_order``, which is verified).

Retries: every operation here is safe to send again with the same parameters, because WeChat
Pay keys them by the merchant's own numbers (``out_trade_no``, ``out_refund_no``) — each method
says how. Only transient failures are retried: a connection that failed, a timeout, a 5xx
(``SYSTEM_ERROR``, ``BANK_ERROR``, a gateway page). Never a rate limit (a quick retry feeds
it), an untrusted answer, or a refusal. Bounded (``max_retries``), exponential backoff with
jitter; every attempt is signed afresh (new timestamp and nonce).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlencode, urlsplit

import orjson

from wxlogin import paycrypto
from wxlogin.errors import (
    BadUpstreamResponse,
    InvalidRequest,
    OrderClosed,
    PayApiError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    WxLoginError,
)
from wxlogin.metrics import observe_upstream
from wxlogin.pay import protocol as wxpay
from wxlogin.pay._answers import Reader, refund_from, transaction_from
from wxlogin.pay._responses import ANSWER, read_answer
from wxlogin.pay.merchant import Merchant
from wxlogin.pay.requests import checked_id, jsapi_order_body, refund_body
from wxlogin.pay.results import PayEvent, PaymentParams, Refund, Transaction
from wxlogin.pay.verify import SIGNED_HEADERS, open_callback
from wxlogin.wechat.transport import HttpMethod, HttpResponse

__all__ = ["PayTransport", "WeChatPayClient"]

_log = logging.getLogger("wxlogin.pay")

Sleep = Callable[[float], Awaitable[None]]
_RESPONSE_HEADERS = (*SIGNED_HEADERS, wxpay.HEADER_REQUEST_ID.lower())


class PayTransport(Protocol):
    """What the pay client needs of a transport: ``wxlogin.wechat``'s two (the pooled
    production one and ``AsgiTransport``), with request headers and named response headers."""

    async def request(
        self,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: bytes | None,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        response_headers: Collection[str] = (),
    ) -> HttpResponse: ...

    async def aclose(self) -> None: ...


def _transient(exc: WxLoginError) -> bool:
    if isinstance(exc, UpstreamError) and not exc.request_sent:
        return True
    if isinstance(exc, UpstreamTimeout | UpstreamUnavailable):
        return True
    if isinstance(exc, BadUpstreamResponse):
        return exc.retryable  # a 5xx gateway page, not a garbled 2xx
    # SYSTEM_ERROR / BANK_ERROR, or an unknown code answered with a 5xx.
    return isinstance(exc, PayApiError) and exc.status >= 500


def _nonce() -> str:
    return secrets.token_hex(16).upper()  # 32 characters of [0-9A-F], as WeChat Pay's own


class WeChatPayClient:
    """Async client for one merchant (``Merchant``: mchid, keys, APIv3 key).

    Use it as ``async with WeChatPayClient(merchant) as pay: ...`` or call ``aclose()``. One
    client holds one pooled connection set; share it. ``base_url`` points it elsewhere (the
    simulator: ``wxlogin simulate``'s address); ``transport`` replaces the network (e.g.
    ``AsgiTransport(simulator)``); ``clock`` and ``sleep`` are injectable so tests never wait.
    """

    def __init__(
        self,
        merchant: Merchant,
        *,
        base_url: str = wxpay.DEFAULT_BASE_URL,
        timeout: float = 10.0,
        transport: PayTransport | None = None,
        max_retries: int = 2,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.merchant = merchant
        self._base_url = base_url.rstrip("/")
        # What the signature covers is the path the server sees, prefix included.
        self._base_path = urlsplit(self._base_url).path
        self._timeout = timeout
        self._owns_transport = transport is None
        self._transport = transport
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"WeChatPayClient(mchid={self.merchant.mchid!r}, base_url={self._base_url!r})"

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
        """Close the connection pool if this client made it."""
        if self._owns_transport and self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    # ------------------------------------------------------------------ orders

    async def create_jsapi_order(
        self,
        *,
        appid: str,
        description: str,
        out_trade_no: str,
        amount_total: int,
        payer_openid: str,
        notify_url: str,
        time_expire: datetime | None = None,
        attach: str | None = None,
    ) -> str:
        """Create a JSAPI order (amount in fen, CNY) and return its ``prepay_id`` (valid 2 h).

        Retries: transient. WeChat Pay keys an order by ``out_trade_no``: the same parameters
        sent again answer the order's current prepay_id, so a resend after a lost answer can
        never make a second order. (Other parameters under the same number are refused.)
        """
        body = jsapi_order_body(
            appid=appid,
            mchid=self.merchant.mchid,
            description=description,
            out_trade_no=out_trade_no,
            amount_total=amount_total,
            payer_openid=payer_openid,
            notify_url=notify_url,
            time_expire=time_expire,
            attach=attach,
        )
        data = await self._call("POST", wxpay.JSAPI_ORDER, json_body=body)
        return Reader(data, ANSWER).text("prepay_id", wxpay.PREPAY_ID_RE)

    async def query_order(
        self, *, out_trade_no: str | None = None, transaction_id: str | None = None
    ) -> Transaction:
        """The order's state as WeChat Pay holds it, by ``out_trade_no`` or ``transaction_id``.

        Retries: transient (a read).
        """
        if (out_trade_no is None) == (transaction_id is None):
            raise InvalidRequest("query by out_trade_no or by transaction_id (exactly one)")
        if out_trade_no is not None:
            number = checked_id("out_trade_no", out_trade_no, wxpay.OUT_TRADE_NO_RE)
            endpoint = wxpay.ORDER_BY_OUT_TRADE_NO
            path = endpoint.format(out_trade_no=number)
        else:
            number = checked_id("transaction_id", transaction_id, wxpay.TRANSACTION_ID_RE)
            endpoint = wxpay.ORDER_BY_TRANSACTION_ID
            path = endpoint.format(transaction_id=number)
        data = await self._call(
            "GET", path, query={"mchid": self.merchant.mchid}, endpoint=endpoint
        )
        transaction = transaction_from(Reader(data, ANSWER))
        asked = transaction.out_trade_no if out_trade_no is not None else transaction.transaction_id
        if transaction.mchid != self.merchant.mchid or asked != number:
            raise BadUpstreamResponse(f"{ANSWER} describes another order")
        return transaction

    async def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order, so it can no longer be paid.

        Retries: transient — closing is idempotent. An ``ORDER_CLOSED`` answer (the order is
        already closed, perhaps by our own earlier attempt whose answer was lost) counts as
        done. A paid order is refused with ``OrderAlreadyPaid``.
        """
        number = checked_id("out_trade_no", out_trade_no, wxpay.OUT_TRADE_NO_RE)
        try:
            await self._call(
                "POST",
                wxpay.CLOSE_ORDER.format(out_trade_no=number),
                json_body={"mchid": self.merchant.mchid},
                endpoint=wxpay.CLOSE_ORDER,
            )
        except OrderClosed:
            return

    # ------------------------------------------------------------------ refunds

    async def refund(
        self,
        *,
        out_refund_no: str,
        amount_refund: int,
        amount_total: int,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        reason: str | None = None,
        notify_url: str | None = None,
    ) -> Refund:
        """Refund ``amount_refund`` fen of an order of ``amount_total`` fen (full or partial).

        Retries: transient. WeChat Pay refunds one ``out_refund_no`` at most once: the same
        request sent again answers the same refund, so a resend after a lost answer cannot pay
        out twice. Use a new ``out_refund_no`` only for a new refund.
        """
        body = refund_body(
            out_refund_no=out_refund_no,
            amount_refund=amount_refund,
            amount_total=amount_total,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            reason=reason,
            notify_url=notify_url,
        )
        data = await self._call("POST", wxpay.REFUNDS, json_body=body)
        return self._refund_for(data, out_refund_no)

    async def query_refund(self, out_refund_no: str) -> Refund:
        """A refund's state by ``out_refund_no``. Retries: transient (a read)."""
        number = checked_id("out_refund_no", out_refund_no, wxpay.OUT_REFUND_NO_RE)
        data = await self._call(
            "GET",
            wxpay.REFUND_BY_OUT_REFUND_NO.format(out_refund_no=number),
            endpoint=wxpay.REFUND_BY_OUT_REFUND_NO,
        )
        return self._refund_for(data, number)

    def _refund_for(self, data: dict[str, Any], out_refund_no: str) -> Refund:
        refund = refund_from(Reader(data, ANSWER))
        if refund.out_refund_no != out_refund_no:
            raise BadUpstreamResponse(f"{ANSWER} describes another refund")
        return refund

    # ------------------------------------------------------------------ callbacks, the page

    def verify_callback(
        self,
        headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
        raw_body: bytes,
    ) -> PayEvent:
        """The decrypted, typed event of a callback WeChat Pay POSTed to ``notify_url``.

        Pass the request's headers and its body *bytes* as received (parsed and re-serialised
        JSON never verifies). Refused with a ``PayVerificationError``: a missing or malformed
        signature, an unknown serial, a timestamp more than 5 minutes off (a replay), a bad
        signature, a ``WECHATPAY/SIGNTEST/`` probe, a resource the APIv3 key does not open.
        Answer a refusal with a non-2xx status: WeChat Pay then delivers a genuine callback
        again. The event is authentic, but delivered at least once and in any order: applying
        it (once, after checking amount, appid and mchid against the order) is the caller's.
        """
        return open_callback(self.merchant, headers, raw_body, now=self._clock())

    def request_payment_params(self, appid: str, prepay_id: str) -> PaymentParams:
        """The ``wx.requestPayment`` object for a prepay_id, signed with the merchant key.

        ``appid`` must be the one the order was created for. The page's ``requestPayment:ok``
        proves nothing; the server learns the outcome from the callback or ``query_order``.
        """
        checked_id("appid", appid, wxpay.APPID_RE)
        checked_id("prepay_id", prepay_id, wxpay.PREPAY_ID_RE)
        timestamp = str(int(self._clock()))
        nonce = _nonce()
        package = f"prepay_id={prepay_id}"
        sign = self.merchant.sign(paycrypto.pay_message(appid, timestamp, nonce, package))
        return PaymentParams(
            timeStamp=timestamp, nonceStr=nonce, package=package, signType="RSA", paySign=sign
        )

    # ------------------------------------------------------------------ plumbing

    def _http(self) -> PayTransport:
        if self._transport is None:
            # Imported here so that code using only AsgiTransport never loads the HTTP library.
            from wxlogin.wechat._http import PooledHttpTransport

            self._transport = PooledHttpTransport()
        return self._transport

    def _authorization(self, method: str, signed_path: str, body: bytes) -> str:
        timestamp = int(self._clock())
        nonce = _nonce()
        message = paycrypto.request_message(method, signed_path, timestamp, nonce, body)
        return wxpay.format_authorization(
            mchid=self.merchant.mchid,
            nonce_str=nonce,
            signature=self.merchant.sign(message),
            timestamp=timestamp,
            serial_no=self.merchant.merchant_serial,
        )

    async def _call(
        self,
        method: HttpMethod,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """``endpoint``: the path's template when ``path`` holds an order's or refund's number
        (what the metrics name it by: a number per order would make a series per order)."""
        body = orjson.dumps(json_body) if json_body is not None else None
        # Query values here are digits (mchid): both transports send them exactly like this.
        signed_path = self._base_path + path + (f"?{urlencode(query)}" if query else "")
        attempt = 0
        while True:
            headers = {
                "Authorization": self._authorization(method, signed_path, body or b""),
                "Accept": "application/json",
            }
            started = time.perf_counter()
            try:
                response = await self._http().request(
                    method,
                    self._base_url + path,
                    params=query or {},
                    json_body=body,
                    timeout=self._timeout,
                    headers=headers,
                    response_headers=_RESPONSE_HEADERS,
                )
                answer = read_answer(self.merchant, response, now=self._clock())
            except WxLoginError as exc:
                code = exc.pay_code if isinstance(exc, PayApiError) else exc.code
                observe_upstream("wechatpay", endpoint or path, code, time.perf_counter() - started)
                _log.debug("%s %s failed: %s", method, path, exc.code)
                if attempt >= self._max_retries or not _transient(exc):
                    raise
                await self._sleep(_backoff(attempt))
                attempt += 1
                continue
            observe_upstream("wechatpay", endpoint or path, "0", time.perf_counter() - started)
            return answer


def _backoff(attempt: int) -> float:
    """0.2 s, 0.4 s, 0.8 s, ... with ±50 % jitter, capped at 3 s."""
    base = min(0.2 * 2.0**attempt, 3.0)
    return base * (0.5 + random.random())  # noqa: S311 - jitter, not security
