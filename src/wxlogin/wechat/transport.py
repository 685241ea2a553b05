"""How the WeChat client moves bytes: a two-method protocol, and an in-process ASGI transport.

The client never touches an HTTP library directly. The production transport (``_http.py``)
wraps the chosen library; ``AsgiTransport`` calls an ASGI app — usually the simulator — in the
same event loop with no socket, which is how the test suite and the pytest plugin run.

A transport reports failures as ``UpstreamTimeout`` / ``UpstreamUnavailable`` and says whether
the request may have reached the server (``request_sent``), because that decides whether a
retry is safe.

Both transports also take request ``headers`` and return the ``response_headers`` a caller
names: the WeChat Pay client signs its requests in a header and verifies the signature WeChat
Pay puts in the answer's headers. Only named headers are read, so the login path pays nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlencode, urlsplit

from wxlogin.errors import UpstreamTimeout, UpstreamUnavailable

__all__ = ["AsgiTransport", "HttpMethod", "HttpResponse", "Transport"]

HttpMethod = Literal["GET", "POST"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What the client needs of a response: status, declared content type, raw body, and the
    headers the request asked for (lower-case names; absent ones are left out)."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Transport(Protocol):
    async def request(
        self,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: bytes | None,
        timeout: float,
    ) -> HttpResponse:
        """Send one request. Raises ``UpstreamTimeout`` or ``UpstreamUnavailable`` on failure."""
        ...

    async def aclose(self) -> None: ...


class AsgiTransport:
    """Send requests straight into an ASGI app, in this event loop, without a socket."""

    def __init__(self, app: AsgiApp, *, client: tuple[str, int] = ("127.0.0.1", 40000)) -> None:
        self._app = app
        self._client = client

    def __repr__(self) -> str:
        return f"AsgiTransport({self._app!r})"

    async def request(
        self,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: bytes | None,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        response_headers: Collection[str] = (),
    ) -> HttpResponse:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        body = json_body or b""
        raw_headers: list[tuple[bytes, bytes]] = [(b"host", parts.netloc.encode("ascii"))]
        if json_body is not None:
            raw_headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
            ]
        for name, value in (headers or {}).items():
            raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        wanted = {name.lower().encode("latin-1") for name in response_headers}
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": parts.scheme or "http",
            "path": unquote(parts.path) or "/",
            "raw_path": (parts.path or "/").encode("ascii"),
            "query_string": urlencode(params).encode("ascii"),
            "root_path": "",
            "headers": raw_headers,
            "client": self._client,
            "server": (host, port),
        }
        finished = asyncio.Event()
        request_delivered = False

        async def receive() -> Message:
            nonlocal request_delivered
            if not request_delivered:
                request_delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        status: int | None = None
        content_type = ""
        chunks: list[bytes] = []
        got: dict[str, str] = {}

        async def send(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    lowered = name.lower()
                    if lowered == b"content-type":
                        content_type = value.decode("latin-1")
                    if lowered in wanted:
                        got[lowered.decode("latin-1")] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    finished.set()

        try:
            async with asyncio.timeout(timeout):
                await self._app(scope, receive, send)
        except TimeoutError:
            raise UpstreamTimeout(request_sent=True) from None
        finally:
            finished.set()
        if status is None:
            # The app ended without answering: to a client that is a dropped connection.
            raise UpstreamUnavailable("the connection closed without a response", request_sent=True)
        return HttpResponse(
            status=status, content_type=content_type, body=b"".join(chunks), headers=got
        )

    async def aclose(self) -> None:
        return None
