"""The WeChat Pay v3 endpoints, as api.mch.weixin.qq.com answers them.

Order of work for one request: route (404/405 otherwise), scripted faults (a faulted call
never reaches the logic), then the signature — ``Authorization: WECHATPAY2-SHA256-RSA2048``
checked against the merchant's registered public key and serial, the timestamp within
``pay_clock_skew`` of the simulated clock, the signature over
``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` on the raw path and body bytes —
then the endpoint's own checks and state change. Any failure of the signature is 401
SIGN_ERROR, unsigned; every other answer is signed for the merchant (``pay_wire``).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, Final

from wxlogin.pay import protocol as wxpay
from wxlogin.paycrypto import aead_encrypt, request_message, verify_message
from wxlogin.simulator.faults import Fault, FaultBook
from wxlogin.simulator.pay_callbacks import CallbackDispatcher
from wxlogin.simulator.pay_errors import PayRefused, param_error
from wxlogin.simulator.pay_rules import json_body, parse_create, parse_refund, require_mchid
from wxlogin.simulator.pay_state import Merchant, PayWorld
from wxlogin.simulator.pay_wire import (
    PayAnswer,
    error_answer,
    json_answer,
    nonce,
    order_resource,
    raw_answer,
    refund_resource,
    rfc3339,
)
from wxlogin.simulator.state import World
from wxlogin.simulator.wire import gateway_answer

__all__ = ["PAY_PATHS", "PayApi", "PayRequest"]

Params = dict[str, str]
Handler = Callable[["PayRequest", Merchant, Params], PayAnswer]

# (method, path template) of every endpoint served; the templates also name fault targets.
PAY_PATHS: Final[tuple[tuple[str, str], ...]] = (
    ("POST", wxpay.JSAPI_ORDER),
    ("GET", wxpay.ORDER_BY_OUT_TRADE_NO),
    ("GET", wxpay.ORDER_BY_TRANSACTION_ID),
    ("POST", wxpay.CLOSE_ORDER),
    ("POST", wxpay.REFUNDS),
    ("GET", wxpay.REFUND_BY_OUT_REFUND_NO),
    ("GET", "/v3/certificates"),
)
_AUTH_FIELDS: Final = frozenset({"mchid", "nonce_str", "signature", "timestamp", "serial_no"})
_MAX_BODY: Final = 64 * 1024


class PayRequest:
    """What a handler needs of one request."""

    __slots__ = ("body", "headers", "method", "path", "query", "target")

    def __init__(
        self,
        method: str,
        path: str,
        target: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        self.method = method
        self.path = path  # decoded, for routing
        self.target = target  # raw path and query as sent: what the merchant signed
        self.query = query
        self.headers = headers  # lower-case names
        self.body = body


def _sign_error(issue: str) -> PayRefused:
    detail = {"field": "Authorization", "value": None, "issue": issue, "location": "header"}
    return PayRefused("SIGN_ERROR", "签名错误，请检查后再试", detail=detail)


def _split(template: str) -> list[str]:
    return template.strip("/").split("/")


def parse_authorization(value: str) -> dict[str, str]:
    """The five pairs of the header, or SIGN_ERROR saying what is wrong with it.

    Written here rather than taken from the client's side: the simulator must not share a
    misreading of the format with the client it is testing.
    """
    scheme, _, rest = value.strip().partition(" ")
    if scheme != wxpay.SIGNATURE_SCHEME:
        raise _sign_error(f"the scheme must be {wxpay.SIGNATURE_SCHEME}")
    pairs: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, quoted = item.strip().partition("=")
        if not sep or len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
            raise _sign_error('each part must be name="value"')
        if name in pairs:
            raise _sign_error(f"{name} appears twice")
        pairs[name] = quoted[1:-1]
    missing = sorted(_AUTH_FIELDS - set(pairs))
    if missing:
        raise _sign_error(f"missing {', '.join(missing)}")
    return pairs


class PayApi:
    """Routes, authenticates and answers the WeChat Pay paths."""

    def __init__(
        self,
        pay: PayWorld,
        world: World,
        callbacks: CallbackDispatcher,
        faults: FaultBook,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._pay = pay
        self._world = world
        self._callbacks = callbacks
        self._faults = faults
        self._sleep = sleep
        self._config = pay.config
        self._clock = pay.clock
        handlers: dict[tuple[str, str], Handler] = {
            ("POST", wxpay.JSAPI_ORDER): self.create_order,
            ("GET", wxpay.ORDER_BY_OUT_TRADE_NO): self.query_by_out_trade_no,
            ("GET", wxpay.ORDER_BY_TRANSACTION_ID): self.query_by_transaction_id,
            ("POST", wxpay.CLOSE_ORDER): self.close_order,
            ("POST", wxpay.REFUNDS): self.create_refund,
            ("GET", wxpay.REFUND_BY_OUT_REFUND_NO): self.query_refund,
            ("GET", "/v3/certificates"): self.certificates,
        }
        self._routes = [
            (method, template, _split(template), h) for (method, template), h in handlers.items()
        ]
        self.requests: dict[str, int] = {}  # per path template, for GET /__sim/state

    def _route(self, method: str, path: str) -> tuple[str, Handler, Params] | int:
        """The template, handler and path parameters; or 404 / 405."""
        segments = _split(path)
        methods_seen = False
        for route_method, template, pattern, handler in self._routes:
            if len(pattern) != len(segments):
                continue
            params: Params = {}
            for want, got in zip(pattern, segments, strict=True):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                if route_method == method:
                    return template, handler, params
                methods_seen = True
        return 405 if methods_seen else 404

    async def handle(self, request: PayRequest) -> PayAnswer | None:
        """The answer to one request to a ``/v3/`` path; None means drop the connection."""
        now = self._clock.now()
        routed = self._route(request.method, request.path)
        if isinstance(routed, int):
            code = "NOT_FOUND" if routed == 404 else "METHOD_NOT_ALLOWED"
            refusal = PayRefused(code, "the simulator does not serve this", status=routed)
            return error_answer(refusal, None, now)
        template, handler, params = routed
        self.requests[template] = self.requests.get(template, 0) + 1
        fault = self._faults.take(template)
        if fault is not None:
            answer = await self._misbehave(fault, request)
            if fault.kind != "delay":
                return answer
        try:
            merchant = self._authenticate(request)
        except PayRefused as refusal:
            return error_answer(refusal, None, self._clock.now())
        try:
            if len(request.body) > _MAX_BODY:
                raise PayRefused("PARAM_ERROR", "请求体过大")
            return handler(request, merchant, params)
        except PayRefused as refusal:
            return error_answer(refusal, merchant, self._clock.now())

    async def _misbehave(self, fault: Fault, request: PayRequest) -> PayAnswer | None:
        if fault.delay_ms:
            await self._sleep(fault.delay_ms / 1000.0)
        now = self._clock.now()
        merchant = self._claimed_merchant(request)
        if fault.code is not None:
            return error_answer(PayRefused(fault.code), merchant, now)
        if fault.http_status is not None:
            gateway = gateway_answer(fault.http_status)
            return PayAnswer(
                gateway.status, [(b"content-type", gateway.content_type)], gateway.body
            )
        if fault.body is not None:
            # A verbatim body, signed like a real answer: what is tested is what the client
            # makes of its content, not of its signature.
            return raw_answer(200, fault.body, merchant, now)
        return None  # drop (or a pure delay, which the caller answers normally)

    def _claimed_merchant(self, request: PayRequest) -> Merchant | None:
        """The merchant the Authorization header names, unverified (faults sign for it)."""
        try:
            pairs = parse_authorization(request.headers.get("authorization", ""))
        except PayRefused:
            return None
        return self._pay.merchants.get(pairs["mchid"])

    def _authenticate(self, request: PayRequest) -> Merchant:
        header = request.headers.get("authorization")
        if not header:
            raise _sign_error("the Authorization header is missing")
        pairs = parse_authorization(header)
        merchant = self._pay.merchants.get(pairs["mchid"])
        if merchant is None:
            raise _sign_error("no merchant with this mchid is registered")
        if not hmac.compare_digest(pairs["serial_no"].upper(), merchant.merchant_serial.upper()):
            raise _sign_error("serial_no is not the merchant's registered certificate serial")
        timestamp = pairs["timestamp"]
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise _sign_error("timestamp must be Unix seconds")
        skew = abs(self._clock.now() - int(timestamp))
        if skew > self._config.pay_clock_skew:
            raise _sign_error(
                f"timestamp is {skew:.0f} s off (limit {self._config.pay_clock_skew:g} s)"
            )
        if not pairs["nonce_str"]:
            raise _sign_error("nonce_str is empty")
        message = request_message(
            request.method, request.target, timestamp, pairs["nonce_str"], request.body
        )
        if not verify_message(merchant.verify_key, message, pairs["signature"]):
            raise _sign_error("the signature does not verify with the merchant's public key")
        return merchant

    # ------------------------------------------------------------------ endpoints

    def _answer(self, status: int, data: Any, merchant: Merchant) -> PayAnswer:
        return json_answer(status, data, merchant, self._clock.now())

    def create_order(self, request: PayRequest, merchant: Merchant, params: Params) -> PayAnswer:
        new = parse_create(
            request.body,
            merchant,
            self._world,
            now=self._clock.now(),
            check_openid=self._config.pay_check_openid,
        )
        order = self._pay.create_order(merchant, new)
        return self._answer(200, {"prepay_id": order.prepay_id}, merchant)

    def _query_mchid(self, request: PayRequest, merchant: Merchant) -> None:
        require_mchid(merchant, request.query.get("mchid"), "query")

    def query_by_out_trade_no(
        self, request: PayRequest, merchant: Merchant, params: Params
    ) -> PayAnswer:
        self._query_mchid(request, merchant)
        order = self._pay.order(
            merchant, _path_value(params, "out_trade_no", wxpay.OUT_TRADE_NO_RE)
        )
        return self._answer(200, order_resource(order), merchant)

    def query_by_transaction_id(
        self, request: PayRequest, merchant: Merchant, params: Params
    ) -> PayAnswer:
        self._query_mchid(request, merchant)
        transaction_id = _path_value(params, "transaction_id", wxpay.TRANSACTION_ID_RE)
        order = self._pay.order_by_transaction(merchant, transaction_id)
        return self._answer(200, order_resource(order), merchant)

    def close_order(self, request: PayRequest, merchant: Merchant, params: Params) -> PayAnswer:
        require_mchid(merchant, json_body(request.body).get("mchid"), "body")
        self._pay.close(merchant, _path_value(params, "out_trade_no", wxpay.OUT_TRADE_NO_RE))
        return self._answer(204, None, merchant)

    def create_refund(self, request: PayRequest, merchant: Merchant, params: Params) -> PayAnswer:
        refund, created = self._pay.refund(merchant, parse_refund(request.body))
        if created:
            self._callbacks.refund_success(refund)
        return self._answer(200, refund_resource(refund, self._clock.now()), merchant)

    def query_refund(self, request: PayRequest, merchant: Merchant, params: Params) -> PayAnswer:
        out_refund_no = _path_value(params, "out_refund_no", wxpay.OUT_REFUND_NO_RE)
        refund = self._pay.refund_by_no(merchant, out_refund_no)
        return self._answer(200, refund_resource(refund, self._clock.now()), merchant)

    def certificates(self, request: PayRequest, merchant: Merchant, params: Params) -> PayAnswer:
        """The platform certificates, encrypted with the APIv3 key (certificate mode only)."""
        data: list[dict[str, Any]] = []
        if merchant.mode == "certificate" and merchant.platform_certificate is not None:
            aead_nonce = nonce(12)
            data.append(
                {
                    "serial_no": merchant.wechatpay_serial,
                    "effective_time": rfc3339(merchant.platform_not_before),
                    "expire_time": rfc3339(merchant.platform_not_after),
                    "encrypt_certificate": {
                        "algorithm": wxpay.AEAD_ALGORITHM,
                        "nonce": aead_nonce,
                        "associated_data": "certificate",
                        "ciphertext": aead_encrypt(
                            merchant.apiv3_key,
                            aead_nonce,
                            merchant.platform_certificate.encode("ascii"),
                            "certificate",
                        ),
                    },
                }
            )
        return self._answer(200, {"data": data}, merchant)


def _path_value(params: Params, name: str, shape: Any) -> str:
    value = params[name]
    if not shape.fullmatch(value):
        raise param_error(name, value, "is malformed", "path")
    return value
