"""``/demo``'s shop: a small catalogue, the host app's backend that sells from it, what WeChat's
pay sheet knows, and WeChat Pay's callbacks told on the timeline.

* ``POST /demo/buy`` ``{"item"}``, with the user's access token: the demo's stand-in for the
  host app's backend (as ``POST /demo/notify`` is for messages). It creates the order with
  ``service.pay.create_order`` at the catalogue's price — the page names an item, never an
  amount, because the amount must never come from the mini program.
* ``GET /demo/pay-sheet?prepay_id=…``: what WeChat's own client learns from the package when
  ``wx.requestPayment`` opens its sheet — the merchant, the order's number, amount and
  description — read from the simulator's state. The page's stand-in for ``wx`` shows the
  sheet with it and needs the merchant and number to play the user's choice at
  ``POST /__sim/pay``. Nothing secret is in it: no key, no signature.
* ``POST /pay/notify`` goes to the service unchanged, watched: WeChat Pay's callback (its event
  type and id; the resource stays encrypted and unread), the service's answer, and then the
  state of the demo's orders the callback changed, as the store holds it.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

import msgspec

from wxlogin.api.app import WxLoginApp
from wxlogin.api.demo.asgi import (
    CAPTURE_LIMIT,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    asgi_get,
    bearer,
    json_headers,
    json_object,
    read_body,
    respond,
    text_of,
)
from wxlogin.api.demo.feed import EventFeed, code_prefix
from wxlogin.api.errors import render_error
from wxlogin.api.pay import OrderOut
from wxlogin.api.server import send_error
from wxlogin.errors import InvalidRequest, NotFound, NotReady, WxLoginError
from wxlogin.pay import protocol as wxpay
from wxlogin.service.pay import NOTIFY_PATH as PAY_NOTIFY_PATH

__all__ = ["BUY_PATH", "CATALOGUE", "PAY_NOTIFY_PATH", "PAY_SHEET_PATH", "DemoShop", "Item"]

BUY_PATH: Final = "/demo/buy"
PAY_SHEET_PATH: Final = "/demo/pay-sheet"
_MAX_BODY: Final = 1024
# The demo's orders whose state the timeline follows; older ones are let go.
_FOLLOWED: Final = 64


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    name: str  # the order's description: what the pay sheet shows
    price: int  # fen (分)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "price": self.price}


# Prices a tester pays without thinking twice, as real test purchases are made.
CATALOGUE: Final = (
    Item("coffee", "咖啡 Coffee", 1),
    Item("tea", "奶茶 Milk tea", 2),
    Item("cake", "蛋糕 Cake", 5),
)


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


class _BuyRequest(msgspec.Struct, forbid_unknown_fields=True):
    item: str


class DemoShop:
    """The three routes above, over the service app and the (witnessed) simulator."""

    def __init__(self, service_app: WxLoginApp, *, simulator: ASGIApp, feed: EventFeed) -> None:
        self._service_app = service_app
        self._simulator = simulator
        self._feed = feed
        self._items = {item.id: item for item in CATALOGUE}
        self._followed: OrderedDict[str, str] = OrderedDict()  # order id -> state last told

    def __repr__(self) -> str:
        return f"DemoShop(following={len(self._followed)})"

    def config(self) -> dict[str, Any]:
        """What the page needs: whether payments are set up, and the catalogue."""
        service = self._service_app.service
        ready = service is not None and service.pay is not None
        return {"pay": ready, "catalogue": [item.as_json() for item in CATALOGUE]}

    # ------------------------------------------------------------------ the host's backend

    async def buy(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        started = self._feed.now()
        try:
            service = self._service_app.service
            if service is None or service.pay is None:
                raise NotReady("payments are not set up in this demo (no merchant)")
            claims = await service.authenticate(bearer(scope) or "")
            item = self._item(await read_body(receive, _MAX_BODY))
            order = await service.pay.create_order(
                claims.user_id, item.price, item.name, appid=claims.appid
            )
        except WxLoginError as exc:
            await send_error(send, render_error(exc, method, path))
            return
        self._follow(order.id, order.state.value)
        # Dated when the request came: it reads before WeChat Pay's line for the same order.
        self._feed.record(
            "wxlogin",
            "order_created",
            "order created",
            f"{order.id}: {item.name}, {item.price} fen ({yuan(item.price)}) at the "
            "catalogue's price; the page named only the item",
            at=started,
        )
        body = msgspec.json.encode(OrderOut.of(order))
        await respond(send, 201, json_headers(), body, False)

    def _item(self, raw: bytes) -> Item:
        choices = ", ".join(self._items)
        try:
            request = msgspec.json.decode(raw or b"{}", type=_BuyRequest)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise InvalidRequest(f'send {{"item": one of {choices}}}') from None
        item = self._items.get(request.item)
        if item is None:
            raise InvalidRequest(f"no such item in the catalogue ({choices})")
        return item

    def _follow(self, order_id: str, state: str) -> None:
        self._followed[order_id] = state
        while len(self._followed) > _FOLLOWED:
            self._followed.popitem(last=False)

    # ------------------------------------------------------------------ WeChat's side

    async def pay_sheet(self, query_string: bytes) -> bytes:
        """The order behind a prepay_id, as WeChat Pay (the simulator) holds it."""
        query = dict(parse_qsl(query_string.decode("latin-1")))
        prepay_id = query.get("prepay_id", "")
        if not wxpay.PREPAY_ID_RE.fullmatch(prepay_id):
            raise InvalidRequest("prepay_id must be the one in requestPayment's package")
        status, body = await asgi_get(self._simulator, "/__sim/state")
        if status != 200:
            raise NotReady("the simulator did not answer")
        orders = msgspec.json.decode(body).get("orders", [])
        for order in orders:
            if order.get("prepay_id") == prepay_id:
                return msgspec.json.encode(
                    {
                        key: order.get(key)
                        for key in (
                            "appid",
                            "mchid",
                            "out_trade_no",
                            "description",
                            "total",
                            "trade_state",
                        )
                    }
                )
        raise NotFound("WeChat Pay knows no order with this prepay_id")

    async def notify(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WeChat Pay's callback, passed to the service; both sides told on the timeline."""
        arrived = self._feed.now()
        request = bytearray()
        answer = bytearray()
        status: int | None = None

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request) < CAPTURE_LIMIT:
                request.extend(message.get("body", b""))
            return message

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and len(answer) < CAPTURE_LIMIT:
                answer.extend(message.get("body", b""))
            await send(message)

        try:
            await self._service_app(scope, watched_receive, watched_send)
        finally:
            self._tell_callback(arrived, bytes(request), status, bytes(answer))
        if status is not None and 200 <= status < 300:
            await self._tell_states()

    def _tell_callback(
        self, arrived: float, request: bytes, status: int | None, answer: bytes
    ) -> None:
        envelope = json_object(request)
        event_type = text_of(envelope, "event_type") or "?"
        self._feed.record(
            "wechat",
            "pay_callback",
            f"WeChat Pay callback: {event_type}",
            f"event {code_prefix(text_of(envelope, 'id'))} to {PAY_NOTIFY_PATH}, signed by WeChat "
            "Pay; the order inside is encrypted with the APIv3 key (not shown)",
            at=arrived,
        )
        if status is None:
            self._feed.record("wxlogin", "pay_callback_dropped", "callback not answered", "")
        elif 200 <= status < 300:
            self._feed.record(
                "wxlogin",
                "pay_callback_acknowledged",
                "callback verified and acknowledged",
                f"HTTP {status}: signature checked on the raw bytes, decrypted, applied once "
                "(a copy changes nothing); WeChat Pay stops sending it",
            )
        else:
            error = json_object(answer).get("error")
            code = text_of(error, "code") if isinstance(error, dict) else ""
            self._feed.record(
                "wxlogin",
                "pay_callback_refused",
                "callback refused",
                f"HTTP {status} {code}: WeChat Pay sends it again later",
            )

    async def _tell_states(self) -> None:
        """The demo's orders a callback changed, as the store now holds them."""
        service = self._service_app.service
        if service is None:
            return
        # The callback has had its answer; a store that fails here costs a timeline line only.
        with contextlib.suppress(WxLoginError):
            for order_id, told in list(self._followed.items()):
                order = await service.store.orders.get(order_id)
                if order is None:
                    self._followed.pop(order_id, None)
                    continue
                state = order.state.value
                if state != told:
                    number = order.transaction_id or ""
                    paid = f", WeChat Pay transaction {code_prefix(number)}" if number else ""
                    detail = f"{order.id}: {told} → {state}{paid}"
                    self._feed.record("wxlogin", "order_state", f"order {state}", detail)
                    self._followed.pop(order_id, None)
