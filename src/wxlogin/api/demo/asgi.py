"""The few ASGI pieces the demo's own routes share: answering, reading a small body, the
bearer token, and asking the in-process simulator a question over its own wire."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import msgspec

from wxlogin.errors import InvalidRequest

__all__ = [
    "CAPTURE_LIMIT",
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "asgi_get",
    "bearer",
    "json_headers",
    "json_object",
    "read_body",
    "respond",
    "text_of",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON: Final = b"application/json"
COMMON_HEADERS: Final = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-cache")]


def json_headers() -> list[tuple[bytes, bytes]]:
    return [(b"content-type", JSON), *COMMON_HEADERS]


async def respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head_only: bool
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head_only else body})


def bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).partition(b" ")
            return token.strip().decode("latin-1") if scheme.lower() == b"bearer" else None
    return None


async def read_body(receive: Receive, limit: int) -> bytes:
    """A request body of at most ``limit`` bytes (the demo's bodies are a few dozen)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidRequest("the request ended before its body")
        body += message.get("body", b"")
        if len(body) > limit:
            raise InvalidRequest(f"the body must be at most {limit} bytes")
        if not message.get("more_body", False):
            return bytes(body)


async def asgi_get(app: ASGIApp, path: str) -> tuple[int, bytes]:
    """GET ``path`` of ``app`` in this process: its status and body."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }
    status = 0
    body = bytearray()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(body)


# Control bodies, WeChat's answers and callbacks are a few hundred bytes; longer is not read.
CAPTURE_LIMIT: Final = 16 * 1024


def json_object(raw: bytes) -> dict[str, Any]:
    """A small JSON object read for the timeline; anything else (or too long) is ``{}``."""
    if not raw or len(raw) >= CAPTURE_LIMIT:
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def text_of(data: object, key: str) -> str:
    """``data[key]`` when it is text, cut short: printed on the page as text, never as
    markup, and the cut keeps a hostile value short."""
    value = data.get(key) if isinstance(data, dict) else None
    return value[:64] if isinstance(value, str) else ""
