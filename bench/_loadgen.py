"""The load generator the benches share: keep-alive HTTP/1.1 on raw asyncio sockets.

Each connection sends its next request the moment the previous answer is complete, so one
Python process can out-run the servers we measure (a client library would be the bottleneck).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
Accept = Callable[[str, bytes], bool]


# The start of every wrk script here: number the threads, and give each thread every n-th line
# of a file (pre-minted codes or request bodies), so each line is sent by exactly one thread.
WRK_THREAD_LINES_LUA = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function my_lines(path, n)
  local mine, line_no = {}, 0
  for line in io.lines(path) do
    if line_no % n == id then mine[#mine + 1] = line end
    line_no = line_no + 1
  end
  return mine
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of latencies in seconds, as milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0


def raw_request(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Driver:
    """Hands out requests and tallies answers: status counts, latencies, maybe the bodies."""

    def __init__(
        self, requests: Iterator[bytes], *, keep: bool = False, accept: Accept | None = None
    ) -> None:
        self._requests = requests
        self._keep = keep
        self._accept = accept or (lambda status, body: status == "200")
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.bodies: list[bytes] = []
        self.ok = 0
        self.errors = 0

    def next_request(self) -> bytes | None:
        return next(self._requests, None)

    def record(self, status: str, body: bytes, latency: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(latency)
        if self._accept(status, body):
            self.ok += 1
        else:
            self.errors += 1
        if self._keep:
            self.bodies.append(body)


class _Conn(asyncio.Protocol):
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.sent_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.next()

    def next(self) -> None:
        request = self.driver.next_request()
        assert self.transport is not None
        if request is None:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            start = head.find(b"content-length:")
            line_end = head.find(b"\r\n", start)
            length = int(head[start + 15 : line_end if line_end >= 0 else len(head)])
            if len(buf) < end + 4 + length:
                return
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            self.driver.record(head[9:12].decode(), body, time.perf_counter() - self.sent_at)
            self.next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def drive(
    port: int,
    requests: Iterator[bytes],
    connections: int,
    *,
    cap: float,
    keep: bool = False,
    accept: Accept | None = None,
) -> Driver:
    """Send every request over ``connections`` keep-alive connections; at most ``cap`` s."""
    driver = Driver(requests, keep=keep, accept=accept)
    loop = asyncio.get_running_loop()
    conns = [
        (await loop.create_connection(lambda: _Conn(driver), "127.0.0.1", port))[1]
        for _ in range(connections)
    ]
    await asyncio.wait_for(asyncio.gather(*(c.closed for c in conns)), cap)
    return driver
