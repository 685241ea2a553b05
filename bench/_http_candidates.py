"""One small adapter per HTTP client library measured by bench/http_clients.py.

Each adapter owns ONE pooled client object (pool limit ``pool``, keep-alive, no cookies where
the library lets us say so) and exposes ``get`` / ``post`` returning (status, content type, raw
body). Libraries are imported by the harness and handed in as a module, so a missing library is
reported as skipped instead of failing the run.

Every adapter is configured the way we would run it in production where the library allows:
a total per-request deadline, no automatic decompression, no redirects, TLS verification left on
(the bench itself runs over plain HTTP on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import urlencode

TIMEOUT_S = 10.0


class BenchClient(Protocol):
    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]: ...

    async def post(
        self, path: str, params: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]: ...

    async def aclose(self) -> None: ...


JSON_HEADERS = {"Content-Type": "application/json"}


class HttpxLikeClient:
    """httpx and httpx2 share one API; ``mod`` is whichever module was imported."""

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        self._client = mod.AsyncClient(
            base_url=base_url,
            timeout=mod.Timeout(TIMEOUT_S),
            limits=mod.Limits(max_connections=pool, max_keepalive_connections=pool),
        )

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        r = await self._client.get(path, params=params)
        return r.status_code, r.headers.get("content-type", ""), r.content

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        r = await self._client.post(path, params=params, content=body, headers=JSON_HEADERS)
        return r.status_code, r.headers.get("content-type", ""), r.content

    async def aclose(self) -> None:
        await self._client.aclose()


class AiohttpClient:
    """aiohttp as wxlogin used it before this bench: defaults plus a pool limit."""

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        connector = mod.TCPConnector(limit=pool, limit_per_host=pool, keepalive_timeout=30)
        self._session = mod.ClientSession(
            base_url=base_url, connector=connector, timeout=mod.ClientTimeout(total=TIMEOUT_S)
        )

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        async with self._session.get(path, params=params) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.read()

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        async with self._session.post(path, params=params, data=body, headers=JSON_HEADERS) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.read()

    async def aclose(self) -> None:
        await self._session.close()


class AiohttpTunedClient:
    """aiohttp with every per-request saving its public API offers.

    The URL is built as one already-encoded string and wrapped in ``yarl.URL(encoded=True)``
    (skips yarl's parsing and quoting); no cookie jar; no automatic decompression, so no
    Accept-Encoding header either; no User-Agent; one ClientTimeout object reused; no
    base_url join. A client middleware turns a dropped connection into a non-retried error,
    the way production would have to run it (see bench/http_resend.py), so its cost is in.
    """

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        import yarl

        self._url = yarl.URL
        self._base = base_url
        self._timeout = mod.ClientTimeout(total=TIMEOUT_S, sock_connect=2.0)
        connector = mod.TCPConnector(limit=pool, keepalive_timeout=30, ttl_dns_cache=300)
        dropped = (mod.ServerDisconnectedError, mod.ClientOSError)
        unsent = mod.ClientConnectorError  # a subclass of ClientOSError, never re-sent anyway

        class NotRetried(mod.ClientError):  # type: ignore[name-defined,misc]
            """Not one of the two exceptions aiohttp re-sends a GET after."""

        async def no_resend(req: Any, handler: Any) -> Any:
            try:
                return await handler(req)
            except unsent:
                raise
            except dropped as exc:
                raise NotRetried(type(exc).__name__) from None

        self._session = mod.ClientSession(
            connector=connector,
            cookie_jar=mod.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            middlewares=(no_resend,),
        )

    def _target(self, path: str, params: dict[str, str]) -> Any:
        return self._url(f"{self._base}{path}?{urlencode(params)}", encoded=True)

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        async with self._session.get(self._target(path, params), timeout=self._timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.read()

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        async with self._session.post(
            self._target(path, params), data=body, headers=JSON_HEADERS, timeout=self._timeout
        ) as r:
            return r.status, r.headers.get("Content-Type", ""), await r.read()

    async def aclose(self) -> None:
        await self._session.close()


class PyreqwestClient:
    """pyreqwest (Rust reqwest/hyper on a Tokio runtime thread)."""

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        from pyreqwest.client import ClientBuilder

        self._base = base_url
        self._client = (
            ClientBuilder()
            .max_connections(pool)
            .pool_max_idle_per_host(pool)
            .timeout(timedelta(seconds=TIMEOUT_S))
            .connect_timeout(timedelta(seconds=2.0))
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .follow_redirects(False)
            .build()
        )

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        url = f"{self._base}{path}?{urlencode(params)}"
        r = await self._client.get(url).build().send()
        return r.status, r.get_header("content-type") or "", bytes(await r.bytes())

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        url = f"{self._base}{path}?{urlencode(params)}"
        r = await self._client.post(url).headers(JSON_HEADERS).body_bytes(body).build().send()
        return r.status, r.get_header("content-type") or "", bytes(await r.bytes())

    async def aclose(self) -> None:
        await self._client.close()


class PyqwestClient:
    """pyqwest (Rust reqwest, another binding)."""

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        self._base = base_url
        self._transport = mod.HTTPTransport(
            tls_include_system_certs=True,
            timeout=TIMEOUT_S,
            connect_timeout=2.0,
            pool_max_idle_per_host=pool,
            max_connections_per_address=pool,
            enable_gzip=False,
            enable_brotli=False,
            enable_zstd=False,
            follow_redirects=False,
            enable_otel=False,
        )
        self._client = mod.Client(self._transport)

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        r = await self._client.get(f"{self._base}{path}?{urlencode(params)}")
        return r.status, r.headers.get("content-type", ""), r.content

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        url = f"{self._base}{path}?{urlencode(params)}"
        r = await self._client.post(url, JSON_HEADERS, body)
        return r.status, r.headers.get("content-type", ""), r.content

    async def aclose(self) -> None:
        await self._transport.aclose()


class AiosonicClient:
    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        from aiosonic.connectors import TCPConnector
        from aiosonic.pools import PoolConfig
        from aiosonic.timeout import Timeouts

        self._base = base_url
        connector = TCPConnector(
            pool_configs={":default": PoolConfig(size=pool, max_conn_requests=None)},
            timeouts=Timeouts(sock_connect=2.0, request_timeout=TIMEOUT_S),
        )
        self._client = mod.HTTPClient(connector=connector)

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        r = await self._client.get(f"{self._base}{path}?{urlencode(params)}")
        return r.status_code, r.headers.get("content-type", ""), await r.content()

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        url = f"{self._base}{path}?{urlencode(params)}"
        r = await self._client.post(url, data=body, headers=JSON_HEADERS)
        return r.status_code, r.headers.get("content-type", ""), await r.content()

    async def aclose(self) -> None:
        await self._client.aclose()


class NiquestsClient:
    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        self._base = base_url
        self._session = mod.AsyncSession(pool_connections=1, pool_maxsize=pool)

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        r = await self._session.get(self._base + path, params=params, timeout=TIMEOUT_S)
        return r.status_code, r.headers.get("content-type", ""), r.content

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        r = await self._session.post(
            self._base + path, params=params, data=body, headers=JSON_HEADERS, timeout=TIMEOUT_S
        )
        return r.status_code, r.headers.get("content-type", ""), r.content

    async def aclose(self) -> None:
        await self._session.close()


class CurlCffiClient:
    """curl_cffi's AsyncSession (libcurl multi interface driven by the asyncio loop)."""

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        self._base = base_url
        self._session = mod.AsyncSession(max_clients=pool, timeout=TIMEOUT_S)

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        r = await self._session.get(f"{self._base}{path}?{urlencode(params)}")
        return r.status_code, r.headers.get("content-type", ""), r.content

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        url = f"{self._base}{path}?{urlencode(params)}"
        r = await self._session.post(url, data=body, headers=JSON_HEADERS)
        return r.status_code, r.headers.get("content-type", ""), r.content

    async def aclose(self) -> None:
        await self._session.close()


class WxloginTransportClient:
    """wxlogin's own production transport (src/wxlogin/wechat/_http.py), through its public seam."""

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        self._base = base_url
        self._transport = mod.PooledHttpTransport(max_connections=pool)

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        r = await self._transport.request(
            "GET", self._base + path, params=params, json_body=None, timeout=TIMEOUT_S
        )
        return r.status, r.content_type, r.body

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        r = await self._transport.request(
            "POST", self._base + path, params=params, json_body=body, timeout=TIMEOUT_S
        )
        return r.status, r.content_type, r.body

    async def aclose(self) -> None:
        await self._transport.aclose()


class _RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection parsed by httptools (reference only, see below)."""

    def __init__(self, httptools: ModuleType) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, str, bytes]] | None = None
        self.body: list[bytes] = []
        self.ctype = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self.ctype = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), self.ctype, b"".join(self.body)))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("closed"))


class HttptoolsReferenceClient:
    """NOT a candidate: the floor. A bare pooled client on httptools with no deadline, no error
    handling and no body cap, to show how close the maintained libraries come."""

    def __init__(self, mod: ModuleType, base_url: str, pool: int) -> None:
        self._mod = mod
        host, port = base_url.removeprefix("http://").split(":")
        self._addr = (host, int(port))
        self._head = f"Host: {base_url.removeprefix('http://')}\r\n".encode()
        self._idle: list[_RawConnection] = []

    async def _send(self, head: bytes, body: bytes) -> tuple[int, str, bytes]:
        if self._idle:
            conn = self._idle.pop()
        else:
            loop = asyncio.get_running_loop()
            _, conn = await loop.create_connection(lambda: _RawConnection(self._mod), *self._addr)
        conn.waiter = asyncio.get_running_loop().create_future()
        conn.body, conn.ctype = [], ""
        assert conn.transport is not None
        conn.transport.write(head + body)
        result = await conn.waiter
        self._idle.append(conn)
        return result

    async def get(self, path: str, params: dict[str, str]) -> tuple[int, str, bytes]:
        line = f"GET {path}?{urlencode(params)} HTTP/1.1\r\n".encode()
        return await self._send(line + self._head + b"\r\n", b"")

    async def post(self, path: str, params: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        line = f"POST {path}?{urlencode(params)} HTTP/1.1\r\n".encode()
        extra = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        return await self._send(line + self._head + extra + b"\r\n", body)

    async def aclose(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()


class BenchClientTransport:
    """A bench adapter seen through wxlogin's ``Transport`` protocol (for the e2e bench)."""

    def __init__(self, client: BenchClient, base_url: str) -> None:
        self._client = client
        self._base_len = len(base_url)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: bytes | None,
        timeout: float,
    ) -> Any:
        from wxlogin.wechat.transport import HttpResponse

        path = url[self._base_len :]
        if json_body is None:
            status, ctype, body = await self._client.get(path, dict(params))
        else:
            status, ctype, body = await self._client.post(path, dict(params), json_body)
        return HttpResponse(status=status, content_type=ctype, body=body)

    async def aclose(self) -> None:
        await self._client.aclose()


def as_transport(name: str, mod: ModuleType, base_url: str, pool: int) -> Any:
    """wxlogin's own transport as it is; any other library through its bench adapter."""
    if name == "wxlogin":
        return mod.PooledHttpTransport(max_connections=pool)
    return BenchClientTransport(CANDIDATES[name][2](mod, base_url, pool), base_url)


Factory = Callable[[ModuleType, str, int], BenchClient]

# name -> (module to import, distribution whose version is reported, adapter)
CANDIDATES: dict[str, tuple[str, str, Factory]] = {
    "httpx": ("httpx", "httpx", HttpxLikeClient),
    "httpx2": ("httpx2", "httpx2", HttpxLikeClient),
    "aiohttp": ("aiohttp", "aiohttp", AiohttpClient),
    "aiohttp-tuned": ("aiohttp", "aiohttp", AiohttpTunedClient),
    "pyreqwest": ("pyreqwest", "pyreqwest", PyreqwestClient),
    "pyqwest": ("pyqwest", "pyqwest", PyqwestClient),
    "aiosonic": ("aiosonic", "aiosonic", AiosonicClient),
    "niquests": ("niquests", "niquests", NiquestsClient),
    "curl_cffi": ("curl_cffi", "curl_cffi", CurlCffiClient),
    "wxlogin": ("wxlogin.wechat._http", "wxlogin", WxloginTransportClient),
    "httptools-floor": ("httptools", "httptools", HttptoolsReferenceClient),
}
