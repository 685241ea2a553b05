"""The simulator as a plain ASGI application: a dict router, no web framework.

It has to answer thousands of code exchanges a second on one core, so the hot path is a dict
lookup on ``(method, path)``, ``parse_qsl``, the domain call and two ``send`` calls. WeChat
paths go to ``upstream`` (after faults and latency); ``/__sim/*`` goes to ``control``; ``/v3/*``
(WeChat Pay) goes to ``pay_api``, off the hot path: only after the dict lookup missed.

Served with a lifespan (uvicorn), the app starts WeChat Pay's callback delivery in the
background at start-up and stops it at shutdown; in-process, tests deliver callbacks with
``await sim.deliver_callbacks()``.

How ``drop`` works: in-process (``AsgiTransport``) the app returns without starting a
response, which the transport reports as a dropped connection. A server such as uvicorn would
answer 500 instead, so when the server's ``send`` exposes its connection (uvicorn's does) the
app closes that connection first: the client sees the socket close with no response at all
(httpx: ``RemoteProtocolError: Server disconnected without sending a response``; aiohttp:
``ServerDisconnectedError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from wxlogin.simulator import control
from wxlogin.simulator.faults import Fault
from wxlogin.simulator.pay_api import PayRequest
from wxlogin.simulator.pay_wire import PayAnswer
from wxlogin.simulator.upstream import Handler, Upstream
from wxlogin.simulator.wire import Answer, content_type_for, error_answer, gateway_answer
from wxlogin.wechat import protocol as wx

if TYPE_CHECKING:
    from wxlogin.simulator.core import Simulator

__all__ = ["SimulatorApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_POST_ONLY: Final = frozenset({wx.STABLE_TOKEN, wx.PHONE_NUMBER})
_CONTROL_PREFIX: Final = "/__sim/"
_PAY_PREFIX: Final = "/v3/"
_NOT_FOUND: Final = Answer(
    404,
    b"text/plain; charset=utf-8",
    b"404 not found: the WeChat simulator serves the WeChat API paths and /__sim/*\n",
)


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


async def _send(send: Send, answer: Answer) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (b"content-type", answer.content_type),
                (b"content-length", str(len(answer.body)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})


async def _send_pay(send: Send, answer: PayAnswer) -> None:
    headers = [(name.lower(), value) for name, value in answer.headers]
    headers.append((b"content-length", str(len(answer.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _drop(send: Send) -> None:
    """Close the client's connection without a response, as far as the server lets us."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    close = getattr(transport, "close", None)
    if close is None:
        return  # in-process: returning without a response start is the drop
    close()
    # Let the server see the connection go before we return, or it would try to answer 500.
    for _ in range(20):
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0)


async def _lifespan(sim: Simulator, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            sim.callbacks.start()  # served: deliver WeChat Pay callbacks on their own
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await sim.callbacks.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


class SimulatorApp:
    """The ASGI callable behind ``Simulator.app``."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._clock = sim.clock
        self._faults = sim.faults
        self._latency = sim.config.latency_ms / 1000.0
        self._sleep = sim.sleep
        self.requests: dict[str, int] = {}  # per WeChat path, for GET /__sim/state
        upstream = Upstream(sim.world)
        routes: dict[tuple[str, str], Handler] = {}
        for path, handler in upstream.handlers().items():
            if path in _POST_ONLY:
                routes["POST", path] = handler
                routes["GET", path] = upstream.require_post(path)
            else:
                # WeChat reads these from the query string whatever the method.
                routes["GET", path] = handler
                routes["POST", path] = handler
        # Subscribe messages: their rules and state are ``sim.subscriptions`` (``subscribe``).
        routes["POST", wx.SUBSCRIBE_SEND] = sim.subscriptions.send
        routes["GET", wx.SUBSCRIBE_SEND] = upstream.require_post(wx.SUBSCRIBE_SEND)
        self._routes = routes

    def __repr__(self) -> str:
        return "SimulatorApp()"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await _lifespan(self._sim, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        handler = self._routes.get((method, path))
        if handler is None:
            if path.startswith(_PAY_PREFIX):
                await self._pay(scope, receive, send)
            elif path.startswith(_CONTROL_PREFIX):
                body = await _read_body(receive) if method in ("POST", "PATCH", "PUT") else b""
                await _send(send, control.dispatch(self._sim, method, path, body))
            else:
                await _send(send, _NOT_FOUND)
            return
        self.requests[path] = self.requests.get(path, 0) + 1
        body = await _read_body(receive) if method == "POST" else b""
        if self._latency:
            await self._sleep(self._latency)
        fault = self._faults.take(path)
        if fault is not None:
            await self._misbehave(fault, path, send)
            if fault.kind != "delay":
                return
            # A pure delay: answer normally below, late.
        raw_query: bytes = scope["query_string"]
        query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {}
        await _send(send, handler(query, body))

    async def _pay(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        raw_query: bytes = scope["query_string"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        target = raw_path.decode("latin-1")
        if raw_query:
            target += "?" + raw_query.decode("latin-1")
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        request = PayRequest(
            method=method,
            path=scope["path"],
            target=target,
            query=dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else {},
            headers=headers,
            body=await _read_body(receive) if method in ("POST", "PUT", "PATCH") else b"",
        )
        if self._latency:
            await self._sleep(self._latency)
        answer = await self._sim.pay_api.handle(request)
        if answer is None:
            await _drop(send)
        else:
            await _send_pay(send, answer)

    async def _misbehave(self, fault: Fault, path: str, send: Send) -> None:
        if fault.delay_ms:
            await self._sleep(fault.delay_ms / 1000.0)
        if fault.errcode is not None:
            await _send(send, error_answer(path, fault.errcode, self._clock()))
        elif fault.http_status is not None:
            await _send(send, gateway_answer(fault.http_status))
        elif fault.body is not None:
            await _send(send, Answer(200, content_type_for(path), fault.body))
        elif fault.drop:
            await _drop(send)
