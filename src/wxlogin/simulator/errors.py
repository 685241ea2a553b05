"""Errors of the simulator's *control* side (``/__sim/*`` and the Python API).

These are about driving the simulator wrongly — an unknown app, a malformed request — and are
rendered as HTTP 4xx ``{"error": "..."}``. WeChat-side refusals are never exceptions: they are
errcode answers, built in ``upstream``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "InvalidControlRequest",
    "NoSession",
    "PayConflict",
    "SimulatorError",
    "UnknownApp",
    "UnknownMerchant",
    "UnknownOrder",
]


class SimulatorError(Exception):
    """Base class; ``status`` is the HTTP status the control API answers with."""

    status: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidControlRequest(SimulatorError):
    """A control request is malformed: bad JSON, a missing or ill-typed field."""

    status = 400


class UnknownApp(SimulatorError):
    """The appid was never registered with this simulator."""

    status = 404

    def __init__(self, appid: str) -> None:
        super().__init__(
            f"unknown app {appid!r}: register it first (POST /__sim/apps or --app APPID:SECRET)"
        )


class NoSession(SimulatorError):
    """The person has no valid session_key in this app: they never called wx.login there."""

    status = 409


class UnknownMerchant(SimulatorError):
    """The mchid was never registered with this simulator."""

    status = 404

    def __init__(self, mchid: str) -> None:
        super().__init__(f"unknown merchant {mchid!r}: register it first (POST /__sim/merchants)")


class UnknownOrder(SimulatorError):
    """The merchant has no order with this out_trade_no."""

    status = 404

    def __init__(self, mchid: str, out_trade_no: str) -> None:
        super().__init__(f"merchant {mchid!r} has no order {out_trade_no!r}")


class PayConflict(SimulatorError):
    """The order cannot be paid now: already paid, closed, expired or its prepay_id lapsed."""

    status = 409
