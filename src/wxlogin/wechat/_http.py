"""The production transport: pooled keep-alive HTTP over aiohttp.

This is the only module that imports the HTTP client library (chosen by measurement; see
docs/decisions.md). Its errors are mapped here, once, to ``UpstreamTimeout`` /
``UpstreamUnavailable``.

Mapping uses ``from None`` on purpose: the library's exceptions carry the request URL, and a
code2Session or token URL carries the AppSecret in its query string. Chaining them would put
the secret into every logged traceback.

One library behaviour to know: aiohttp re-sends a GET once, by itself, when a *reused*
keep-alive connection turns out to have been closed by the server before any answer. That is
the stale-connection race, where the request almost never reached the application, so for
code2Session it is far more often a rescue than a 40163; there is no switch to turn it off.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from wxlogin.errors import UpstreamTimeout, UpstreamUnavailable
from wxlogin.wechat.transport import HttpMethod, HttpResponse

__all__ = ["PooledHttpTransport"]


class PooledHttpTransport:
    """One aiohttp session, created on first use inside the running event loop."""

    def __init__(self, *, max_connections: int = 100, keepalive_timeout: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_timeout = keepalive_timeout
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"PooledHttpTransport(max_connections={self._max_connections})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=self._keepalive_timeout,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # WeChat needs no cookies; a dummy jar skips per-response cookie work.
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
            )
        return self._session

    async def request(
        self,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: bytes | None,
        timeout: float,
    ) -> HttpResponse:
        headers = {"Content-Type": "application/json"} if json_body is not None else None
        try:
            async with self._client().request(
                method,
                url,
                params=dict(params),
                data=json_body,
                headers=headers,
                # A separate connect timeout tells "never sent" apart from "no answer".
                timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 2.0)),
            ) as response:
                body = await response.read()
                return HttpResponse(
                    status=response.status,
                    content_type=response.headers.get("Content-Type", ""),
                    body=body,
                )
        except aiohttp.ConnectionTimeoutError:
            # Must come first: it is both a TimeoutError and a ClientConnectionError.
            raise UpstreamTimeout("connecting to WeChat timed out", request_sent=False) from None
        except TimeoutError:
            raise UpstreamTimeout(request_sent=True) from None
        except aiohttp.ClientConnectorError as exc:
            # Connect, DNS or TLS handshake failed: the request never left.
            raise UpstreamUnavailable(
                f"cannot connect to WeChat ({type(exc).__name__})", request_sent=False
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"the connection to WeChat failed ({type(exc).__name__})", request_sent=True
            ) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
