"""``SimulatorWitness``: the WeChat side of ``/demo``'s timeline, read off the simulator's wire.

It wraps the simulator's ASGI app in ``wxlogin dev`` and tells the feed what the phone asked
of WeChat (``/__sim/login``, ``/__sim/phone-code``, the subscribe dialog, the pay sheet) and
what WeChat answered wxlogin (jscode2session, getuserphonenumber, access tokens, subscribe
messages; WeChat Pay's orders in ``pay_witness``) — refusals and dropped connections
included, because those are what a developer wants to see. Watching the wire rather than
adding hooks to the simulator keeps the simulator exactly the program ``wxlogin simulate``
runs.

What it takes from an answer: errcodes, an openid prefix, whether a unionid came, a masked
phone number, lifetimes. The session_key, access tokens and the AppSecret in the query are
never read into an event; codes appear cut to a prefix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl

from wxlogin.api.demo import pay_witness
from wxlogin.api.demo.asgi import CAPTURE_LIMIT as _CAPTURE_LIMIT
from wxlogin.api.demo.asgi import json_object as _json_object
from wxlogin.api.demo.asgi import text_of as _text
from wxlogin.api.demo.feed import EventFeed, Side, code_prefix, masked_phone
from wxlogin.wechat import protocol as wx

__all__ = ["SimulatorWitness"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SIM_LOGIN: Final = "/__sim/login"
SIM_PHONE_CODE: Final = "/__sim/phone-code"
SIM_SUBSCRIPTIONS: Final = "/__sim/subscriptions"
_WATCHED: Final = frozenset(
    {
        SIM_LOGIN,
        SIM_PHONE_CODE,
        SIM_SUBSCRIPTIONS,
        wx.CODE2SESSION,
        wx.PHONE_NUMBER,
        wx.TOKEN,
        wx.STABLE_TOKEN,
        wx.SUBSCRIBE_SEND,
    }
)
# What a successful answer of each WeChat path must hold (never read into an event itself
# for the token).
_SUCCESS_FIELD: Final = {
    wx.CODE2SESSION: "openid",
    wx.PHONE_NUMBER: "phone_info",
    wx.TOKEN: "access_token",
    wx.STABLE_TOKEN: "access_token",
    wx.SUBSCRIBE_SEND: "errmsg",  # {"errcode": 0, "errmsg": "ok", ...}
}


class _Recorder:
    """Passes ``send`` through and keeps the answer's status and (small) body.

    The simulator drops a connection (a ``drop`` fault) by closing the transport it finds on
    ``send.__self__`` (uvicorn's); the two properties keep that reachable through the wrap.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._server_side = getattr(send, "__self__", None)
        self.status: int | None = None
        self.body = bytearray()

    @property
    def transport(self) -> Any:
        return getattr(self._server_side, "transport", None)

    @property
    def disconnected(self) -> bool:
        return bool(getattr(self._server_side, "disconnected", True))

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body" and len(self.body) < _CAPTURE_LIMIT:
            self.body += message.get("body", b"")
        await self._send(message)


class _Dated:
    """``feed.record`` with the time fixed to when the request arrived."""

    def __init__(self, feed: EventFeed, at: float) -> None:
        self._feed = feed
        self._at = at

    def record(self, side: Side, kind: str, title: str, detail: str = "") -> None:
        self._feed.record(side, kind, title, detail, at=self._at)


class SimulatorWitness:
    """An ASGI app: the simulator, with what happens on the watched paths told to ``feed``."""

    def __init__(self, app: ASGIApp, feed: EventFeed) -> None:
        self._app = app
        self._feed = feed

    def __repr__(self) -> str:
        return f"SimulatorWitness({self._app!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _watched(scope["path"]):
            await self._app(scope, receive, send)
            return
        request = bytearray()

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(request) < _CAPTURE_LIMIT:
                request.extend(message.get("body", b""))
            return message

        recorder = _Recorder(send)
        # The event is dated when the request came: the code was minted (or traded) before
        # the caller could see the answer, and the timeline should read in that order.
        arrived = self._feed.now()
        try:
            await self._app(scope, watched_receive, recorder.send)
        finally:
            _narrate(_Dated(self._feed, arrived), scope, bytes(request), recorder)


def _watched(path: str) -> bool:
    return path in _WATCHED or pay_witness.watches(path)


def _narrate(feed: _Dated, scope: Scope, request: bytes, recorder: _Recorder) -> None:
    """One watched exchange, as a line of the timeline."""
    path: str = scope["path"]
    if recorder.status is None:
        feed.record(
            "wechat", "dropped", f"{path}: no answer", "the connection was closed (a fault)"
        )
        return
    answer = _json_object(bytes(recorder.body))
    if pay_witness.watches(path):
        method: str = scope["method"]
        pay_witness.narrate(feed, method, path, _json_object(request), recorder.status, answer)
        return
    if path in (SIM_LOGIN, SIM_PHONE_CODE):
        _control(feed, path, _json_object(request), recorder.status, answer)
        return
    if path == SIM_SUBSCRIPTIONS:
        _dialog(feed, _json_object(request), recorder.status, answer)
        return
    if recorder.status != 200:
        feed.record("wechat", "gateway_error", f"{path}: HTTP {recorder.status}", "a gateway fault")
        return
    errcode = answer.get("errcode", 0)
    if errcode:
        message = _text(answer, "errmsg").split(",")[0].split(" rid:")[0]
        feed.record("wechat", "refused", f"{path} refused", f"errcode {errcode}: {message}")
        return
    expected = _SUCCESS_FIELD.get(path, "")
    if expected not in answer:
        # A `body` fault, or a simulator bug: wxlogin will refuse it; say so here too.
        feed.record("wechat", "odd_answer", f"{path}: not WeChat's answer", "no " + expected)
        return
    if path == wx.CODE2SESSION:
        query = dict(parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1")))
        openid = _text(answer, "openid")
        unionid = "with a unionid" if answer.get("unionid") else "no unionid"
        feed.record(
            "wechat",
            "code2session",
            "jscode2session answered",
            f"code {code_prefix(query.get('js_code', ''))} traded: openid "
            f"{openid[:8]}…, {unionid}; the session_key goes to wxlogin only",
        )
    elif path == wx.SUBSCRIBE_SEND:
        sent = _json_object(request)
        data = sent.get("data")
        keywords = len(data) if isinstance(data, dict) else 0
        feed.record(
            "wechat",
            "message_delivered",
            "subscribe message delivered",
            f"{_text(sent, 'template_id')} to openid {_text(sent, 'touser')[:8]}…, "
            f"{keywords} keyword(s); that accept is now spent",
        )
    elif path == wx.PHONE_NUMBER:
        info = answer.get("phone_info")
        phone = _text(info, "phoneNumber") if isinstance(info, dict) else ""
        feed.record(
            "wechat",
            "phone_number",
            "getuserphonenumber answered",
            f"phone {masked_phone(phone)} for the code the button gave",
        )
    else:
        expires = answer.get("expires_in")
        feed.record(
            "wechat",
            "access_token",
            "access_token issued to wxlogin",
            f"expires in {expires if isinstance(expires, int) else '?'} s (value not shown)",
        )


def _control(
    feed: _Dated, path: str, request: dict[str, Any], status: int, answer: dict[str, Any]
) -> None:
    """The phone's side: a wx.login code or a phone code minted (or refused)."""
    user = _text(request, "user") or "?"
    what = "wx.login" if path == SIM_LOGIN else "phone button"
    if status != 200:
        feed.record("wechat", "control_refused", f"{what} refused", _text(answer, "error"))
        return
    code = _text(answer, "code")
    if path == SIM_LOGIN:
        feed.record(
            "wechat",
            "code_minted",
            "wx.login code minted",
            f"for {user}: {code_prefix(code)} (single use, 5 min)",
        )
    else:
        feed.record(
            "wechat",
            "phone_code_minted",
            "phone code minted",
            f"for {user}: {code_prefix(code)} (single use, not a login code)",
        )


def _dialog(feed: _Dated, request: dict[str, Any], status: int, answer: dict[str, Any]) -> None:
    """The user's choice in the subscribe dialog, as WeChat records it."""
    if status != 200:
        feed.record("wechat", "control_refused", "subscribe dialog refused", _text(answer, "error"))
        return
    allowed = answer.get("sends_allowed")
    feed.record(
        "wechat",
        "subscription_recorded",
        f"subscribe dialog: {_text(request, 'result')}",
        f"{_text(request, 'template_id')} for {_text(request, 'user') or '?'}: "
        f"{allowed if isinstance(allowed, int) else '?'} send(s) now allowed",
    )
