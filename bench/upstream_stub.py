"""A cheap fixed-latency stand-in for WeChat's ``GET /sns/jscode2session``, for ``make bench``.

Every contender in the side-by-side bench trades its codes here, so the upstream costs all of
them the same: a fixed delay (``--latency-ms``, 20 by default) and as little CPU as we can
manage in Python (a raw asyncio protocol on uvloop, keep-alive, no framework).

The answer is WeChat's shape, labelled ``Content-Type: text/plain`` as WeChat labels it::

    {"session_key": "<base64 of 16 bytes>", "openid": "o<27 more characters>"}

**Code → user mapping.** The openid depends on the code *without its last character*:
``openid = "o" + base64url(sha256(code[:-1]))[:27]``. The bench's load scripts send each user's
two logins as ``<user key>a`` (first) and ``<user key>b`` (returning), so both map to one
openid while every code stays unique. The session_key is the MD5 digest of the whole code, so
each login gets its own. Codes are not remembered: replaying one is not an error here.

It also answers ``/cgi-bin/token`` and ``/cgi-bin/stable_token`` with an access_token, because
wechatpy asks for one before any call (jscode2session itself ignores it). Anything else is 404.

    python bench/upstream_stub.py --port 9000 [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import signal
from urllib.parse import unquote_to_bytes

HEAD_END = b"\r\n\r\n"
ACCESS_TOKEN_BODY = b'{"access_token":"bench-stub-access-token","expires_in":7200}'
NOT_FOUND_BODY = b'{"errcode":-1,"errmsg":"not served by the bench stub"}'
MISSING_CODE_BODY = b'{"errcode":41008,"errmsg":"missing code"}'


def response(status: bytes, body: bytes, *, close: bool) -> bytes:
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: text/plain\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: "
        + connection
        + b"\r\n\r\n"
        + body
    )


def query_value(target: bytes, name: bytes) -> bytes | None:
    """The value of ``name`` in the request target's query string, percent-decoded."""
    start = target.find(b"?")
    if start < 0:
        return None
    for pair in target[start + 1 :].split(b"&"):
        key, _, value = pair.partition(b"=")
        if key == name:
            return unquote_to_bytes(value.replace(b"+", b" ")) if b"%" in value else value
    return None


def session_body(code: bytes) -> bytes:
    user = hashlib.sha256(code[:-1]).digest()
    openid = b"o" + base64.urlsafe_b64encode(user)[:27]
    session_key = base64.b64encode(hashlib.md5(code).digest())
    return b'{"session_key":"' + session_key + b'","openid":"' + openid + b'"}'


def answer(head: bytes) -> tuple[bytes, bool]:
    """The response bytes for one request head, and whether to close afterwards."""
    line_end = head.find(b"\r\n")
    request_line = head if line_end < 0 else head[:line_end]
    parts = request_line.split(b" ")
    target = parts[1] if len(parts) == 3 else b"/"
    lowered = head.lower()
    close = b"connection: close" in lowered or (
        parts[-1] == b"HTTP/1.0" and b"connection: keep-alive" not in lowered
    )
    path = target.partition(b"?")[0]
    if path == b"/sns/jscode2session":
        code = query_value(target, b"js_code")
        if not code:
            return response(b"200 OK", MISSING_CODE_BODY, close=close), close
        return response(b"200 OK", session_body(code), close=close), close
    if path in (b"/cgi-bin/token", b"/cgi-bin/stable_token"):
        return response(b"200 OK", ACCESS_TOKEN_BODY, close=close), close
    return response(b"404 Not Found", NOT_FOUND_BODY, close=close), close


class StubConnection(asyncio.Protocol):
    """One keep-alive connection; each answer leaves ``latency`` seconds after its request."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(HEAD_END)
            if end < 0:
                return
            head = bytes(buffer[:end])
            length = content_length(head)
            if len(buffer) < end + 4 + length:
                return
            del buffer[: end + 4 + length]  # a body (stable_token's JSON) is not needed
            reply, close = answer(head)
            # Equal delays keep pipelined answers in request order (timers fire FIFO).
            self.loop.call_later(self.latency, self.send, reply, close)

    def send(self, reply: bytes, close: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(reply)
        if close:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def content_length(head: bytes) -> int:
    start = head.lower().find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    end = head.find(b"\r\n", start + 2)
    return int(head[start + 17 : end if end >= 0 else len(head)])


async def serve(host: str, port: int, latency: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StubConnection(latency), host, port, backlog=1024)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    print(f"stub listening on {host}:{port}, {latency * 1000:g} ms latency", flush=True)
    await stopped.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="fixed delay (20)")
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.host, args.port, args.latency_ms / 1000.0))


if __name__ == "__main__":
    main()
