"""WeChat Pay over HTTP: orders, ``wx.requestPayment`` parameters, WeChat Pay's callback.

* ``POST /pay/orders`` — a host app's backend creates an order for a user (service token):
  the amount never comes from the mini program.
* ``POST /pay/orders/{order_id}/params`` — the mini program (the order's owner) gets the
  signed parameters for ``wx.requestPayment``.
* ``GET /me/orders``, ``GET /me/orders/{order_id}`` — the owner's view; a recent unpaid order
  is checked with WeChat Pay first (``requestPayment:ok`` proves nothing).
* ``POST /pay/notify`` — WeChat Pay's callback, verified on its raw bytes and applied once.

The work is ``PayService`` (service/pay.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec

from wxlogin.api.errors import BodyTooLarge
from wxlogin.api.routing import BodySink, Context, Route
from wxlogin.api.schemas import _Request, _text
from wxlogin.errors import (
    InvalidRequest,
    NotFound,
    OrderNotPayable,
    PayApiError,
    PayVerificationError,
    UnknownApp,
    UntrustedPayResponse,
    UpstreamError,
)
from wxlogin.service.pay import MAX_AMOUNT, MAX_ATTACH, MAX_DESCRIPTION, NOTIFY_PATH, PayService
from wxlogin.store.records import Order

__all__ = ["PAY_ROUTES", "OrderOut", "OrderRequest", "PaymentParamsOut"]

# WeChat Pay's callbacks are a few hundred bytes of JSON; anything far bigger is not one.
NOTIFY_MAX_BYTES = 64 * 1024


class OrderRequest(_Request):
    not_blank: ClassVar[tuple[str, ...]] = ("user_id", "description")

    user_id: Annotated[
        str, _text(64, "the user's id (`sub` of their access token)", min_length=1, blank=False)
    ]
    amount: Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT, description="in fen (分), CNY")]
    description: Annotated[
        str,
        _text(
            MAX_DESCRIPTION, "what is bought, as the pay sheet shows it", min_length=1, blank=False
        ),
    ]
    appid: (
        Annotated[
            str,
            _text(
                64,
                "the mini program it is paid in; may be left out when the user "
                "uses only one that takes payments",
            ),
        ]
        | None
    ) = None
    attach: (
        Annotated[str, _text(MAX_ATTACH, "your own data, given back in queries and callbacks")]
        | None
    ) = None


class OrderOut(msgspec.Struct):
    id: str
    appid: str
    out_trade_no: Annotated[str, msgspec.Meta(description="the order's number at WeChat Pay")]
    description: str
    amount: Annotated[int, msgspec.Meta(description="in fen (分)")]
    currency: str
    state: Annotated[
        str,
        msgspec.Meta(
            description="created, paid, closed, partially_refunded or refunded",
            extra_json_schema={
                "enum": ["created", "paid", "closed", "partially_refunded", "refunded"]
            },
        ),
    ]
    refunded_amount: int
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None
    transaction_id: Annotated[
        str | None, msgspec.Meta(description="WeChat Pay's number, once paid")
    ]
    attach: str | None

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls(
            id=order.id,
            appid=order.appid,
            out_trade_no=order.out_trade_no,
            description=order.description,
            amount=order.amount,
            currency=order.currency,
            state=order.state.value,
            refunded_amount=order.refunded_amount,
            created_at=order.created_at,
            expires_at=order.expires_at,
            paid_at=order.paid_at,
            closed_at=order.closed_at,
            transaction_id=order.transaction_id,
            attach=order.attach,
        )


class OrderList(msgspec.Struct):
    orders: list[OrderOut]


class PaymentParamsOut(
    msgspec.Struct,
    rename={
        "time_stamp": "timeStamp",
        "nonce_str": "nonceStr",
        "sign_type": "signType",
        "pay_sign": "paySign",
    },
):
    """Pass it to ``wx.requestPayment`` as it is (names as WeChat spells them)."""

    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str


class _NotifyBody:
    """WeChat Pay's callback: kept as raw bytes, because its signature covers exactly them
    (parsed and re-serialised JSON never verifies)."""

    def open(self, content_type: bytes | None) -> BodySink[bytes]:
        return _Bytes()

    def openapi_content(self) -> dict[str, Any]:
        return {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "WeChat Pay's signed notification (event_type, resource …)",
                }
            }
        }


class _Bytes:
    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def finish(self) -> bytes:
        return b"".join(self._chunks)


def _pay(ctx: Context[Any]) -> PayService:
    pay = ctx.service.pay
    if pay is None:
        raise NotFound("payments are not set up on this server (no [apps.pay] merchant)")
    return pay


def _order_id(ctx: Context[Any]) -> str:
    return ctx.path_params.get("order_id", "")  # its shape is the service's to check


async def create_order(ctx: Context[OrderRequest]) -> OrderOut:
    """Create an order for a user (needs one of the service tokens, not a user's token).

    The amount is yours to set, never the mini program's. The mini program then asks for its
    payment parameters (`POST /pay/orders/{order_id}/params`).
    """
    body = ctx.body
    order = await _pay(ctx).create_order(
        body.user_id, body.amount, body.description, appid=body.appid, attach=body.attach
    )
    return OrderOut.of(order)


async def payment_params(ctx: Context[None]) -> PaymentParamsOut:
    """The signed parameters of `wx.requestPayment` for one of the caller's orders.

    `requestPayment:ok` in the mini program is no proof of payment: ask `GET /me/orders/{id}`
    afterwards, which checks with WeChat Pay.
    """
    params = await _pay(ctx).payment_params(ctx.claims, _order_id(ctx))
    return PaymentParamsOut(
        time_stamp=params["timeStamp"],
        nonce_str=params["nonceStr"],
        package=params["package"],
        sign_type=params["signType"],
        pay_sign=params["paySign"],
    )


async def my_orders(ctx: Context[None]) -> OrderList:
    """The caller's orders, newest first (the latest 100)."""
    orders = await _pay(ctx).orders_for(ctx.claims, limit=100, offset=0)
    return OrderList([OrderOut.of(order) for order in orders])


async def my_order(ctx: Context[None]) -> OrderOut:
    """One of the caller's orders; a recent unpaid one is checked with WeChat Pay first."""
    return OrderOut.of(await _pay(ctx).order_for(ctx.claims, _order_id(ctx)))


async def pay_notify(ctx: Context[bytes]) -> None:
    """WeChat Pay's callback (set as `notify_url`): verified on its raw bytes, decrypted, and
    applied once. A callback that is not authentic is refused (401), so WeChat Pay delivers
    the genuine one again; duplicates and late ones are acknowledged and change nothing.
    """
    await _pay(ctx).handle_notify(ctx.headers, ctx.body)


# What asking WeChat Pay may end in, for the mini program's route that asks it. (Creating an
# order never fails on WeChat Pay: the parameters' request tries again.)
_UPSTREAM = (PayApiError, UntrustedPayResponse, UpstreamError)

PAY_ROUTES: tuple[Route[Any], ...] = (
    Route(
        "POST",
        "/pay/orders",
        create_order,
        "Create an order for a user",
        ("pay",),
        body=OrderRequest,
        response=OrderOut,
        status=201,
        service_credential=True,
        raises=(InvalidRequest, NotFound, UnknownApp),
    ),
    Route(
        "POST",
        "/pay/orders/{order_id}/params",
        payment_params,
        "Payment parameters for wx.requestPayment",
        ("pay",),
        response=PaymentParamsOut,
        auth=True,
        raises=(InvalidRequest, NotFound, OrderNotPayable, *_UPSTREAM),
    ),
    Route(
        "GET",
        "/me/orders",
        my_orders,
        "My orders",
        ("pay",),
        response=OrderList,
        auth=True,
        raises=(NotFound,),
    ),
    Route(
        "GET",
        "/me/orders/{order_id}",
        my_order,
        "One of my orders",
        ("pay",),
        response=OrderOut,
        auth=True,
        raises=(NotFound,),
    ),
    Route(
        "POST",
        NOTIFY_PATH,
        pay_notify,
        "WeChat Pay's callback",
        ("pay",),
        stream=_NotifyBody(),
        response=None,
        status=204,
        max_body_bytes=NOTIFY_MAX_BYTES,
        raises=(PayVerificationError, NotFound, BodyTooLarge),
    ),
)
