"""Scripted misbehaviour: "the next n calls to this path answer like so".

A fault is an optional delay plus at most one outcome: a WeChat ``errcode`` (on a WeChat Pay
path: a ``code`` such as ``SYSTEM_ERROR``, answered as WeChat Pay's error body), a gateway
``http_status``, a verbatim ``body``, or ``drop`` (close the connection without answering).
With no outcome the delayed call is then answered normally. Faults on one path fire in the
order they were added. A faulted call never reaches the WeChat logic, so a login code sent
with it is *not* consumed (a real network failure could happen after WeChat acted; script
that case as a normal call followed by a fault on the next one, or as ``delay_ms`` beyond the
client's timeout).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from wxlogin.pay import protocol as wxpay
from wxlogin.simulator.errors import InvalidControlRequest
from wxlogin.wechat import protocol as wx

__all__ = ["PAY_PATHS", "UPSTREAM_PATHS", "Fault", "FaultBook", "FaultKind"]

UPSTREAM_PATHS: frozenset[str] = frozenset(
    {
        wx.CODE2SESSION,
        wx.TOKEN,
        wx.STABLE_TOKEN,
        wx.CHECK_SESSION,
        wx.RESET_SESSION_KEY,
        wx.PHONE_NUMBER,
        wx.PAID_UNIONID,
        wx.SUBSCRIBE_SEND,
    }
)

# WeChat Pay faults name an endpoint by its path template: one fault for every order.
PAY_PATHS: frozenset[str] = frozenset(
    {
        wxpay.JSAPI_ORDER,
        wxpay.ORDER_BY_OUT_TRADE_NO,
        wxpay.ORDER_BY_TRANSACTION_ID,
        wxpay.CLOSE_ORDER,
        wxpay.REFUNDS,
        wxpay.REFUND_BY_OUT_REFUND_NO,
        "/v3/certificates",
    }
)

FaultKind = Literal["errcode", "code", "http_status", "body", "drop", "delay"]
_MAX_DELAY_MS = 600_000


@dataclass(slots=True)
class Fault:
    """One scripted misbehaviour, used up after ``remaining`` calls."""

    path: str
    remaining: int
    delay_ms: float = 0.0
    errcode: int | None = None
    code: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    drop: bool = False

    @property
    def kind(self) -> FaultKind:
        if self.errcode is not None:
            return "errcode"
        if self.code is not None:
            return "code"
        if self.http_status is not None:
            return "http_status"
        if self.body is not None:
            return "body"
        return "drop" if self.drop else "delay"

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "remaining": self.remaining,
            "delay_ms": self.delay_ms,
        }


def _int(value: object, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidControlRequest(f"{name} must be an integer from {low} to {high}")
    return value


def make_fault(
    path: str,
    *,
    errcode: int | None = None,
    http_status: int | None = None,
    delay_ms: float | None = None,
    body: str | bytes | None = None,
    drop: bool = False,
    times: int = 1,
    code: str | None = None,
) -> Fault:
    """Validate a fault description (from JSON or from Python) and build it."""
    pay = path in PAY_PATHS
    if path not in UPSTREAM_PATHS and not pay:
        raise InvalidControlRequest(
            "path must be one of the WeChat endpoints: "
            f"{', '.join(sorted(UPSTREAM_PATHS | PAY_PATHS))}"
        )
    outcomes = [
        errcode is not None,
        code is not None,
        http_status is not None,
        body is not None,
        drop is True,
    ]
    if sum(outcomes) > 1:
        raise InvalidControlRequest("give at most one of errcode, code, http_status, body, drop")
    if drop not in (True, False):
        raise InvalidControlRequest("drop must be true or false")
    if not any(outcomes) and delay_ms is None:
        raise InvalidControlRequest("give one of errcode, code, http_status, delay_ms, body, drop")
    if pay and errcode is not None:
        raise InvalidControlRequest("WeChat Pay paths take a code (e.g. SYSTEM_ERROR), not errcode")
    if not pay and code is not None:
        raise InvalidControlRequest("code is for WeChat Pay paths; WeChat paths take errcode")
    fault = Fault(path=path, remaining=_int(times, "times", 1, 1_000_000), drop=drop)
    if code is not None:
        if not isinstance(code, str) or not wxpay.ERROR_CODE_RE.fullmatch(code):
            raise InvalidControlRequest("code must be a WeChat Pay error code like SYSTEM_ERROR")
        fault.code = code
    if errcode is not None:
        fault.errcode = _int(errcode, "errcode", -(2**31), 2**31 - 1)
        if fault.errcode == 0:
            raise InvalidControlRequest("errcode 0 is success, not a fault")
    if http_status is not None:
        fault.http_status = _int(http_status, "http_status", 100, 599)
    if body is not None:
        if not isinstance(body, str | bytes):
            raise InvalidControlRequest("body must be a string")
        fault.body = body.encode("utf-8") if isinstance(body, str) else body
    if delay_ms is not None:
        if (
            not isinstance(delay_ms, int | float)
            or isinstance(delay_ms, bool)
            or not 0 <= delay_ms <= _MAX_DELAY_MS
        ):
            raise InvalidControlRequest(f"delay_ms must be a number from 0 to {_MAX_DELAY_MS}")
        fault.delay_ms = float(delay_ms)
    return fault


class FaultBook:
    """Pending faults per path, consumed in order."""

    __slots__ = ("_queues",)

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, fault: Fault) -> None:
        self._queues.setdefault(fault.path, deque()).append(fault)

    def take(self, path: str) -> Fault | None:
        """The fault for this call to ``path``, if one is pending (O(1); the hot path calls it)."""
        queue = self._queues.get(path)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def clear(self) -> None:
        self._queues.clear()

    def pending(self) -> list[dict[str, Any]]:
        return [fault.describe() for queue in self._queues.values() for fault in queue]
