"""The production transport: pooled keep-alive HTTP/1.1 over pyreqwest (Rust reqwest + hyper).

This is the only module that imports the HTTP client library, chosen by measured CPU per call
and by how it behaves when a connection breaks (docs/decisions.md, bench/http_clients.py and
bench/http_resend.py). Its errors are mapped here, once.

What the transport guarantees, and how:

- **No silent resend of a request that may have reached WeChat.** hyper re-sends a request by
  itself only when it never wrote it (a pooled connection found closed at checkout, or closed
  before the first byte went out). A connection that drops after the request was written is
  reported, never retried: a code2Session ``js_code`` is single-use, and a second send would
  turn a success into 40163.
- **"Never sent" told apart from "may have been sent"** (``request_sent``), which decides
  whether ``WeChatClient`` may retry. pyreqwest's exception *classes* cannot be trusted for
  this: a connection dropped after the request was written comes out as ``ConnectError`` and a
  total deadline hit while waiting for the answer as ``ConnectTimeoutError`` (both measured by
  bench/http_resend.py). So "never sent" is claimed only on positive evidence: a pool-slot
  timeout, or hyper's connect-phase marker in the error's cause chain. Anything else is
  "may have been sent". If a future version rewords the marker, we fail safe: fewer retries,
  never a double send (tests/wechat/test_http.py pins the refused-connect case).
- **A total per-request deadline** (connect, write, wait, body) plus a short connect timeout.
- **A cap on the response body**: WeChat's answers are untrusted input. A declared
  Content-Length over the cap is refused before reading; a body without one (chunked, or
  delimited by close) is read chunk by chunk and abandoned once over the cap.
- **TLS verified against the system trust store** (reqwest's rustls platform verifier).
- **No URL in any error**: the code2Session URL carries the AppSecret in its query string and
  the library's messages quote the URL, so errors are mapped with ``from None`` and our own
  messages name only the exception class.
- **No redirects followed**: a redirect would carry the AppSecret to another host.
- **Extra request headers and named response headers** for the WeChat Pay client (a signed
  ``Authorization``, marked sensitive so the library never shows it; ``Wechatpay-*`` back).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import timedelta
from urllib.parse import quote_plus

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import (
    BuilderError,
    PoolTimeoutError,
    PyreqwestError,
    RequestError,
    RequestTimeoutError,
)
from pyreqwest.response import Response

from wxlogin.errors import (
    BadUpstreamResponse,
    ConfigurationError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from wxlogin.wechat.transport import HttpMethod, HttpResponse

__all__ = ["DEFAULT_MAX_BODY_BYTES", "PooledHttpTransport"]

# WeChat's largest answers (a phone number, a token) are well under 4 KiB; 1 MiB leaves room
# for a gateway's HTML error page and still bounds what one bad answer can cost.
DEFAULT_MAX_BODY_BYTES = 1 << 20

# hyper-util's Display of its connect-phase error kind (connect, DNS, TLS handshake: the
# request never left). Only ever used to claim "not sent"; see the module docstring.
_CONNECT_PHASE_MARKER = "client error (Connect)"

_JSON_HEADERS = {"Content-Type": "application/json"}
# Characters a query value may carry as they are (RFC 3986 unreserved). Appids, secrets,
# login codes and tokens are made of these, so the usual query needs no escaping at all.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _query(params: Mapping[str, str]) -> str:
    """``urlencode(params)``, without urllib's per-character quoting when none is needed."""
    return "&".join(
        f"{name}={value}" if _UNRESERVED.fullmatch(value) else f"{name}={quote_plus(value)}"
        for name, value in params.items()
    )


class PooledHttpTransport:
    """One pyreqwest client (connection pool), created on first use, closed by ``aclose``.

    ``max_connections`` bounds requests in flight (so connections in use); further requests
    wait for a slot within their deadline. ``keepalive_timeout`` closes idle pooled connections
    before a typical server would, which keeps the stale-connection race rare.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_timeout: float = 30.0,
        connect_timeout: float = 2.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_timeout = keepalive_timeout
        self._connect_timeout = connect_timeout
        self._max_body_bytes = max_body_bytes
        self._client: Client | None = None
        # The deadline is almost always the same float: build its timedelta once.
        self._deadline_s = 0.0
        self._deadline = timedelta(0)

    def __repr__(self) -> str:
        return f"PooledHttpTransport(max_connections={self._max_connections})"

    def _pool(self) -> Client:
        if self._client is None:
            self._client = (
                ClientBuilder()
                .max_connections(self._max_connections)
                .pool_max_idle_per_host(self._max_connections)
                .pool_idle_timeout(timedelta(seconds=self._keepalive_timeout))
                .connect_timeout(timedelta(seconds=self._connect_timeout))
                .follow_redirects(False)
                # WeChat answers uncompressed; no Accept-Encoding, no decoder on the hot path.
                .gzip(False)
                .brotli(False)
                .zstd(False)
                .deflate(False)
                .user_agent("wxlogin")
                .build()
            )
        return self._client

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
        if timeout != self._deadline_s:
            self._deadline_s, self._deadline = timeout, timedelta(seconds=timeout)
        target = f"{url}?{_query(params)}" if params else url
        try:
            builder = self._pool().request(method, target).timeout(self._deadline)
            if json_body is not None:
                builder = builder.headers(_JSON_HEADERS).body_bytes(json_body)
            if headers:
                for name, value in headers.items():
                    sensitive = name.lower() == "authorization"
                    builder = builder.header(name, value, is_sensitive=sensitive)
            async with builder.build_streamed() as response:
                body = await self._read_body(response)
                content_type = response.get_header("content-type") or ""
                if not response_headers:
                    return HttpResponse(
                        status=response.status, content_type=content_type, body=body
                    )
                got: dict[str, str] = {}
                for wanted in response_headers:
                    found = response.get_header(wanted)
                    if found is not None:
                        got[wanted.lower()] = found
                return HttpResponse(
                    status=response.status, content_type=content_type, body=body, headers=got
                )
        except PyreqwestError as exc:
            raise _mapped(exc) from None

    async def _read_body(self, response: Response) -> bytes:
        declared = response.get_header("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self._max_body_bytes:
                raise self._too_large(response.status)
            # hyper reads exactly the declared length, so this read is bounded: one hop.
            return (await response.bytes()).to_bytes()
        chunks: list[bytes] = []
        size = 0
        while (chunk := await response.body_reader.read_chunk()) is not None:
            size += len(chunk)
            if size > self._max_body_bytes:
                raise self._too_large(response.status)  # leaving the block drops the connection
            chunks.append(chunk.to_bytes())
        return b"".join(chunks)

    def _too_large(self, status: int) -> BadUpstreamResponse:
        return BadUpstreamResponse(
            f"WeChat's answer is larger than {self._max_body_bytes} bytes", status=status
        )

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _mapped(exc: PyreqwestError) -> UpstreamError | ConfigurationError:
    """Our error for one of pyreqwest's; its message is never copied (it quotes the URL)."""
    kind = type(exc).__name__
    if isinstance(exc, BuilderError):
        return ConfigurationError(f"the WeChat request could not be built ({kind})")
    if isinstance(exc, PoolTimeoutError):
        return UpstreamTimeout("no free connection to WeChat in time", request_sent=False)
    unsent = isinstance(exc, RequestError) and _in_connect_phase(exc)
    if isinstance(exc, RequestTimeoutError):
        if unsent:
            return UpstreamTimeout("connecting to WeChat timed out", request_sent=False)
        return UpstreamTimeout(request_sent=True)
    if unsent:
        return UpstreamUnavailable(f"cannot connect to WeChat ({kind})", request_sent=False)
    return UpstreamUnavailable(f"the connection to WeChat failed ({kind})", request_sent=True)


def _in_connect_phase(exc: RequestError) -> bool:
    causes = exc.details.get("causes") or []
    return any(cause.get("message") == _CONNECT_PHASE_MARKER for cause in causes)
