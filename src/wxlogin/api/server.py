"""The lean ASGI face: an exact route table, bodies read with a limit, msgspec in and out.

Per request: one dict lookup for the path and one for the method, one pass over the headers,
the body read (Content-Length checked first), one msgspec decode, the handler, one encode, two
``send`` calls. No middleware stack, no dependency injection, no per-request reflection.
Anything that goes wrong becomes a response through ``api.errors`` and nowhere else.

A route may set its own body limit, read a body that is not JSON through its ``stream`` (fed
chunk by chunk, so a parser can refuse early), answer raw bytes, or take a value from its
path; the JSON routes pay for these with three attribute checks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from wxlogin.api.body_deadline import DEFAULT_BODY_TIMEOUT, BodyDeadlines
from wxlogin.api.errors import (
    BodyTooLarge,
    ErrorReply,
    MethodNotAllowed,
    UnsupportedMediaType,
    render_error,
    render_unexpected,
)
from wxlogin.api.routing import (
    NO_PARAMS,
    NOT_READY,
    BinaryReply,
    BodySink,
    Context,
    MethodTable,
    Route,
    RouteTable,
    authenticate,
    verify_service_caller,
)
from wxlogin.errors import InvalidRequest, NotReady, WxLoginError
from wxlogin.service.login import LoginService

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "REQUEST_ID_HEADER",
    "Face",
    "Receive",
    "Scope",
    "Send",
    "send_error",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 1 << 20
REQUEST_ID_HEADER = b"x-request-id"
_log = logging.getLogger("wxlogin.api")
_encode = msgspec.json.Encoder().encode
_JSON = b"application/json"


class _Disconnected(Exception):
    """The client went away while we were reading its body: nobody is left to answer."""


class Face:
    """The route table and the service it drives. Serves one request at a time per call.

    ``service`` is set by whoever owns the start-up (the lean app's lifespan, or the FastAPI
    adapter's); until then every route that needs it answers 503 ``not_ready``.
    """

    def __init__(
        self,
        table: RouteTable,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        self.table = table
        self.max_body_bytes = max_body_bytes
        # A body not all there body_timeout seconds after the headers: 408 body_timeout.
        self.body_deadlines = BodyDeadlines(body_timeout)
        self.service: LoginService | None = None

    async def handle(
        self,
        methods: MethodTable,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: bytes | None = None,
    ) -> None:
        """Answer a request whose path matched ``methods``; ``request_id`` goes back in
        ``X-Request-ID`` (``api/observe.py``), on errors too."""
        method: str = scope["method"]
        route = methods.get(method)
        if route is None and method == "HEAD":
            route = methods.get("GET")
        try:
            if route is None:
                raise MethodNotAllowed(tuple(methods))
            payload = await self._run(route, scope, receive)
        except _Disconnected:
            return
        except WxLoginError as exc:
            await send_error(send, render_error(exc, method, scope["path"]), request_id)
            return
        except Exception:
            await send_error(send, render_unexpected(method, scope["path"]), request_id)
            return
        if route.binary:
            await _send_binary(send, route.status, payload, method, request_id)
            return
        body = b"" if payload is None else _encode(payload)
        headers = (
            [(b"content-type", _JSON), (b"content-length", b"%d" % len(body))]
            if payload is not None
            else []
        )
        if request_id is not None:
            headers.append((REQUEST_ID_HEADER, request_id))
        await send({"type": "http.response.start", "status": route.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def _run(self, route: Route[Any], scope: Scope, receive: Receive) -> Any:
        authorization: bytes | None = None
        content_type: bytes | None = None
        content_length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                content_length = value
        claims = None
        if route.guarded:  # one attribute check for the open routes (login), as before
            if self.service is None:
                raise NotReady(NOT_READY)
            if route.auth:
                claims = await authenticate(self.service, _bearer_token(authorization))
            else:
                verify_service_caller(self.service, _bearer_token(authorization))
        body = None
        if route.decoder is not None:
            _check_media_type(content_type)
            reading = self.body_deadlines.begin()
            try:
                raw = await self._read_body(
                    receive, content_length, route.max_body_bytes or self.max_body_bytes
                )
            except asyncio.CancelledError:
                self.body_deadlines.cancelled(reading)  # raises when the deadline passed
                raise
            finally:
                self.body_deadlines.end(reading)
            try:
                body = route.decoder.decode(raw)
            except msgspec.ValidationError as exc:
                raise InvalidRequest(_field_message(str(exc))) from None
            except msgspec.DecodeError:
                raise InvalidRequest("the body is not valid JSON") from None
        elif route.stream is not None:
            sink = route.stream.open(content_type)
            limit = route.max_body_bytes or self.max_body_bytes
            reading = self.body_deadlines.begin()
            try:
                body = await _stream_body(sink, receive, content_length, limit)
            except asyncio.CancelledError:
                self.body_deadlines.cancelled(reading)
                raise
            finally:
                self.body_deadlines.end(reading)
        client = scope.get("client")
        # Only what the ASGI server says. Behind a proxy the server rewrites it from
        # X-Forwarded-For for trusted proxies only (`wxlogin serve` with trust_forwarded_for);
        # reading the header here would let any client pick its own address.
        ip = client[0] if client else "unknown"
        # Both faces put a templated path's value there: Starlette's router, and the lean app.
        params = scope.get("path_params", NO_PARAMS) if route.path_param else NO_PARAMS
        return await route.handler(
            Context(self.service, body, claims, ip, params, scope["headers"])
        )

    async def _read_body(self, receive: Receive, content_length: bytes | None, limit: int) -> bytes:
        if content_length is not None:  # inline, not _check_declared_length: the hot path
            try:
                declared = int(content_length)
            except ValueError:
                raise InvalidRequest("Content-Length is not a number") from None
            if declared > limit:
                raise BodyTooLarge(f"the request body is larger than {limit} bytes")
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        if not message.get("more_body", False):  # the usual case: one message holds it all
            if len(chunk) > limit:
                raise BodyTooLarge(f"the request body is larger than {limit} bytes")
            return chunk
        chunks, size = [chunk], len(chunk)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # stop reading: the rest is never buffered
                raise BodyTooLarge(f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


async def _stream_body(
    sink: BodySink[Any], receive: Receive, content_length: bytes | None, limit: int
) -> Any:
    """Feed the body to ``sink`` as it arrives, never reading past ``limit`` bytes."""
    if content_length is not None:
        _check_declared_length(content_length, limit)
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request body is larger than {limit} bytes")
        sink.feed(chunk)
        if not message.get("more_body", False):
            return sink.finish()


def _check_declared_length(content_length: bytes, limit: int) -> None:
    try:
        declared = int(content_length)
    except ValueError:
        raise InvalidRequest("Content-Length is not a number") from None
    if declared > limit:
        raise BodyTooLarge(f"the request body is larger than {limit} bytes")


async def _send_binary(
    send: Send, status: int, reply: BinaryReply, method: str, request_id: bytes | None
) -> None:
    headers = [
        (b"content-type", reply.media_type.encode("latin-1")),
        (b"content-length", b"%d" % len(reply.body)),
        *reply.headers,
    ]
    if request_id is not None:
        headers.append((REQUEST_ID_HEADER, request_id))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else reply.body})


def _bearer_token(header: bytes | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return token.strip().decode("latin-1") or None


def _check_media_type(content_type: bytes | None) -> None:
    """JSON or nothing: a missing Content-Type is read as JSON, anything else is refused."""
    if content_type is None or content_type == _JSON:  # what nearly every client sends
        return
    media = content_type.partition(b";")[0].strip().lower()
    if media != _JSON and not (media.startswith(b"application/") and media.endswith(b"+json")):
        raise UnsupportedMediaType()


def _field_message(text: str) -> str:
    """msgspec's "Expected `str` - at `$.code`" as "code: Expected `str`"."""
    problem, sep, where = text.rpartition(" - at `$")
    if not sep:
        return text
    field = where.rstrip("`").lstrip(".")
    return f"{field}: {problem}" if field else problem


async def send_error(send: Send, reply: ErrorReply, request_id: bytes | None = None) -> None:
    headers = [
        (b"content-type", _JSON),
        (b"content-length", b"%d" % len(reply.body)),
        *reply.headers,
    ]
    if request_id is not None:
        headers.append((REQUEST_ID_HEADER, request_id))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
