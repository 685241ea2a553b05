"""``DemoFront``: ``wxlogin dev``'s outermost ASGI app — ``/demo`` and what it needs, then wxlogin.

``wxlogin serve`` never builds one: the page, its event feed and the forwarded simulator
routes exist only in the dev process. Here, on the service's own origin:

* ``GET /demo`` — the page; ``/demo/static/*`` its script and style (package data);
* ``GET /demo/sdk/*.mjs`` — the mini-program SDK's ES module, from its package directory;
* ``GET /demo/config.json`` — the appid and access-token lifetime the page needs, and where
  the event feed stands;
* ``GET /demo/events?after=N`` — the timeline's server side (``feed.EventFeed``);
* ``POST /demo/notify`` — the demo's stand-in for the host app's backend: for the user whose
  access token it is sent with, it sends the subscribe message ``notify_template`` ("your
  order has shipped") through ``service.messages``, as a host app would after one of its
  own protected actions;
* ``POST /demo/buy``, ``GET /demo/pay-sheet`` — the shop (``shop.DemoShop``): the host app's
  backend creating an order at the catalogue's price, and what WeChat's pay sheet knows of
  the order behind a prepay_id; ``POST /pay/notify`` (WeChat Pay's callbacks) still goes to
  the service, watched by the shop for the timeline;
* ``POST /__sim/login``, ``POST /__sim/phone-code``, ``POST /__sim/subscriptions``, ``POST
  /__sim/pay`` — handed to the in-process simulator, so the page's stand-in for ``wx`` plays
  the phone (wx.login, the phone button, the subscribe dialog, the pay sheet) without a
  cross-origin call; and ``GET /__sim/users/{user}``, the simulator's state of one person,
  where the phone reads the messages delivered to it. Nothing else of the control API.

Everything else goes to the service app unchanged; so does the lifespan, on whose start-up
the service's listener is pointed at the feed. The page loads nothing from anywhere but this
origin: its Content-Security-Policy says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import msgspec

from wxlogin.api.app import WxLoginApp
from wxlogin.api.demo.asgi import (
    COMMON_HEADERS,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    bearer,
    json_headers,
    respond,
)
from wxlogin.api.demo.feed import EventFeed
from wxlogin.api.demo.narrator import service_narrator
from wxlogin.api.demo.sdk import SdkModule
from wxlogin.api.demo.shop import BUY_PATH, PAY_NOTIFY_PATH, PAY_SHEET_PATH, DemoShop
from wxlogin.api.errors import MethodNotAllowed, RouteNotFound, render_error
from wxlogin.api.server import send_error
from wxlogin.errors import InvalidRequest, NotReady, WxLoginError

__all__ = ["DEMO_PATH", "FEED_PATH", "NOTIFY_FIELDS", "NOTIFY_PATH", "DemoFront"]

DEMO_PATH: Final = "/demo"
FEED_PATH: Final = "/demo/events"
NOTIFY_PATH: Final = "/demo/notify"
FORWARDED_TO_SIMULATOR: Final = frozenset(
    {"/__sim/login", "/__sim/phone-code", "/__sim/subscriptions", "/__sim/pay"}
)
# The person's part of the simulator's state (GET only: PATCH would change them).
_SIM_USER_PREFIX: Final = "/__sim/users/"
# What /demo/notify sends: a template ``wxlogin dev`` declares on both sides, and its values.
NOTIFY_FIELDS: Final = {"thing1": "thing", "time2": "time"}
_BEIJING: Final = timezone(timedelta(hours=8))
_STATIC_PREFIX: Final = "/demo/static/"
_SDK_PREFIX: Final = "/demo/sdk/"
_STATIC_TYPES: Final = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
}
_JAVASCRIPT: Final = _STATIC_TYPES[".js"]
_MAX_SEQ: Final = 2**53


def _static_files() -> dict[str, tuple[bytes, bytes]]:
    """The page's own files (package data), read once: name → (Content-Type, bytes)."""
    files: dict[str, tuple[bytes, bytes]] = {}
    folder = resources.files("wxlogin.api.demo").joinpath("static")
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _STATIC_TYPES:
            files[entry.name] = (_STATIC_TYPES[suffix], entry.read_bytes())
    return files


def page_policy(public_url: str) -> bytes:
    """The page's Content-Security-Policy: scripts, styles, requests and images from this
    origin only (avatars are served at ``public_url``), plus the ``blob:``/``data:`` images
    the page itself makes. No inline code, no other host."""
    parts = urlsplit(public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' {origin} blob: data:; connect-src 'self'; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ).encode()


class DemoFront:
    """``wxlogin dev``'s app: the demo routes, two simulator routes, then ``service_app``."""

    def __init__(
        self,
        service_app: WxLoginApp,
        *,
        simulator: ASGIApp,
        feed: EventFeed,
        appid: str,
        access_token_ttl: int,
        public_url: str,
        sdk: SdkModule | None,
        sdk_problem: str = "",
        notify_template: str | None = None,
    ) -> None:
        self._service_app = service_app
        self._simulator = simulator
        self._feed = feed
        self._appid = appid
        self._access_token_ttl = access_token_ttl
        self._sdk = sdk
        self._sdk_problem = sdk_problem
        self._notify_template = notify_template
        self._shop = DemoShop(service_app, simulator=simulator, feed=feed)
        self._static = _static_files()
        self._page_headers = [
            (b"content-type", _STATIC_TYPES[".html"]),
            (b"content-security-policy", page_policy(public_url)),
            *COMMON_HEADERS,
        ]

    def __repr__(self) -> str:
        return f"DemoFront({self._service_app!r}, sdk={self._sdk!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            method: str = scope["method"]
            if path == NOTIFY_PATH and method == "POST":
                await self._notify(scope, send)
            elif path == BUY_PATH and method == "POST":
                await self._shop.buy(scope, receive, send)
            elif path == PAY_NOTIFY_PATH and method == "POST":
                await self._shop.notify(scope, receive, send)
            elif path == DEMO_PATH or path.startswith(DEMO_PATH + "/"):
                await self._demo(scope, send)
            elif path in FORWARDED_TO_SIMULATOR or (
                path.startswith(_SIM_USER_PREFIX) and method == "GET"
            ):
                await self._simulator(scope, receive, send)
            else:
                await self._service_app(scope, receive, send)
        elif kind == "lifespan":
            await self._service_app(scope, receive, self._watch_startup(send))
        else:
            await self._service_app(scope, receive, send)

    def _watch_startup(self, send: Send) -> Send:
        """``send`` for the service's lifespan: once it has started, it tells the feed."""

        async def watched(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self._attach_listener()
            await send(message)

        return watched

    def _attach_listener(self) -> None:
        service = self._service_app.service
        if service is None:
            return
        narrator = service_narrator(self._feed)
        service.listener = narrator
        if service.avatars is not None:
            service.avatars.listener = narrator
        if service.messages is not None:
            service.messages.listener = narrator

    # ------------------------------------------------------------------ the demo routes

    async def _demo(self, scope: Scope, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        if method not in ("GET", "HEAD"):
            await send_error(send, render_error(MethodNotAllowed(("GET",)), method, path))
            return
        head_only = method == "HEAD"
        try:
            if path in (DEMO_PATH, DEMO_PATH + "/"):
                body = self._static["index.html"][1]
                await respond(send, 200, self._page_headers, body, head_only)
            elif path == DEMO_PATH + "/config.json":
                await respond(send, 200, json_headers(), self._config(), head_only)
            elif path == FEED_PATH:
                page = self._feed.page(_after(scope.get("query_string", b"")))
                await respond(send, 200, json_headers(), msgspec.json.encode(page), head_only)
            elif path == PAY_SHEET_PATH:
                sheet = await self._shop.pay_sheet(scope.get("query_string", b""))
                await respond(send, 200, json_headers(), sheet, head_only)
            elif path.startswith(_STATIC_PREFIX) and path[len(_STATIC_PREFIX) :] in self._static:
                content_type, body = self._static[path[len(_STATIC_PREFIX) :]]
                headers = [(b"content-type", content_type), *COMMON_HEADERS]
                await respond(send, 200, headers, body, head_only)
            elif path.startswith(_SDK_PREFIX) and self._sdk is not None:
                module = self._sdk.read(path[len(_SDK_PREFIX) :])
                if module is None:
                    raise RouteNotFound("no such SDK module")
                headers = [(b"content-type", _JAVASCRIPT), *COMMON_HEADERS]
                await respond(send, 200, headers, module, head_only)
            else:
                raise RouteNotFound()
        except WxLoginError as exc:
            await send_error(send, render_error(exc, method, path))

    def _config(self) -> bytes:
        return msgspec.json.encode(
            {
                "appid": self._appid,
                "access_token_ttl": self._access_token_ttl,
                "feed_last": self._feed.last,
                "sdk": self._sdk is not None,
                "sdk_hint": self._sdk_problem,
                "notify_template": self._notify_template,
                **self._shop.config(),
            }
        )

    # ------------------------------------------------------------------ the host's backend

    async def _notify(self, scope: Scope, send: Send) -> None:
        """What a host app's backend does after one of its protected actions: tell the user.

        The caller is the page, with the user's access token (the SDK's ``auth.request``); the
        message goes to that user. A host app does this from its own server with the service
        token (``POST /messages``); the demo has no backend of its own, so this route plays it.
        """
        method, path = scope["method"], scope["path"]
        try:
            service = self._service_app.service
            if service is None or service.messages is None or self._notify_template is None:
                raise NotReady("subscribe messages are not set up in this demo")
            claims = await service.authenticate(bearer(scope) or "")
            sent = await service.messages.send_message(
                claims.user_id,
                self._notify_template,
                {
                    "thing1": "您的订单已发货",
                    # WeChat's time format, in the time zone the message is read in.
                    "time2": datetime.now(_BEIJING).strftime("%Y年%m月%d日 %H:%M"),
                },
                appid=claims.appid,
                page="pages/index/index",
            )
        except WxLoginError as exc:
            await send_error(send, render_error(exc, method, path))
            return
        body = msgspec.json.encode(
            {"outcome": sent.outcome.value, "template_id": sent.template_id, "id": sent.id}
        )
        await respond(send, 200, json_headers(), body, False)


def _after(query_string: bytes) -> int | None:
    """``after`` of ``/demo/events``: a feed position, or None when absent."""
    query = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    values = [v for k, v in query if k == "after"]
    if not values:
        return None
    text = values[-1]
    if not (text.isascii() and text.isdigit()) or len(text) > 16 or int(text) > _MAX_SEQ:
        raise InvalidRequest("after must be a whole number: the last event seen")
    return int(text)
