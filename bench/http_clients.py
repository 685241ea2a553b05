"""Benchmark async HTTP clients for the WeChat API client (wxlogin).

Starts a small raw-asyncio HTTP/1.1 keep-alive server on 127.0.0.1 in a child process,
then, for each candidate library, drives N pooled requests at concurrency C through ONE
client object and reports requests/s and client-process CPU per request (process_time, so
a Rust client's runtime thread is counted too).

Workload: 90% GET with query params (like jscode2session), 10% POST with a JSON body.
The server answers every request with a small JSON body labelled ``text/plain`` (as the
real upstream does on one endpoint); every client reads raw bytes and parses with orjson.
With ``--e2e`` the unit is ``WeChatClient.code_to_session`` over each library instead
(all GETs; ``wxlogin`` is the production transport, the others go through an adapter).

The candidates and their adapters are in bench/_http_candidates.py; how each behaves when a
connection breaks is bench/http_resend.py. Results and the decision: docs/decisions.md.

Usage (from a venv that has the candidates, orjson and optionally uvloop installed):

    python bench/http_clients.py --requests 20000 --concurrency 1 32 100
    python bench/http_clients.py --e2e --libraries aiohttp pyreqwest wxlogin

Every loop has a fixed count and each measured cell has a wall-clock cap, so the run is
bounded. Candidates are imported lazily; a missing one is reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import ClassVar, TypeVar, cast

import orjson

from _http_candidates import CANDIDATES, BenchClient, as_transport

T = TypeVar("T")

RESPONSE_BODY = (
    b'{"session_key":"tiihtNczf5v6AKRyjwEUhQ==","openid":"oGZUI0egBJY1zhBYw2KhdUfwVJJE"}'
)
GET_PATH = "/sns/jscode2session"
GET_PARAMS = {
    "appid": "wx0123456789abcdef",
    "secret": "0123456789abcdef0123456789abcdef",
    "js_code": "081aBcDe0xYz1A1Gh0Ie0aBcDe0aBcDR",
    "grant_type": "authorization_code",
}
POST_PATH = "/wxa/business/getuserphonenumber"
POST_PARAMS = {"access_token": "ACCESS_TOKEN_0123456789"}
POST_BODY = orjson.dumps(
    {"code": "e31968a7f94cc5ee25fafc2aef2773f0bb8c3937b22520eb8ee345274d00c144"}
)
POST_EVERY = 10  # every 10th request is a POST
DEFAULT_LIBRARIES = ("aiohttp", "aiohttp-tuned", "pyreqwest", "pyqwest", "aiosonic", "wxlogin")
# Test paths (for checking client error handling): /slow answers after SLOW_DELAY_S,
# /drop reads the request and closes without answering, /truncate sends a short body.
SLOW_DELAY_S = 2.0
CELL_CAP_S = 15.0  # default wall-clock cap for one (library, concurrency) cell


# --------------------------------------------------------------------------- server


class _UpstreamProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server; enough for the benchmark clients."""

    stats: ClassVar[dict[str, int]] = {"connections": 0, "requests": 0}

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        _UpstreamProtocol.stats["connections"] += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            lines = head.split(b"\r\n")
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length":
                    length = int(value.strip())
                elif lname == b"connection" and value.strip().lower() == b"close":
                    close = True
            total = end + 4 + length
            if len(self.buf) < total:
                return
            del self.buf[:total]
            parts = lines[0].split(b" ")
            target = parts[1] if len(parts) > 1 else b"/"
            self._respond(target.split(b"?", 1)[0], close)

    def _respond(self, path: bytes, close: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        _UpstreamProtocol.stats["requests"] += 1
        if path == b"/drop":
            transport.close()  # read the request, then hang up without answering
            return
        if path == b"/truncate":  # promise 100 body bytes, send 10, hang up
            transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + RESPONSE_BODY[:10])
            transport.close()
            return
        body = RESPONSE_BODY
        if path == b"/__stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            body = orjson.dumps({**self.stats, "cpu_s": usage.ru_utime + usage.ru_stime})
        response = b"".join(
            (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\nConnection: close\r\n\r\n" if close else b"\r\n\r\n",
                body,
            )
        )
        if path == b"/slow":
            asyncio.get_running_loop().call_later(SLOW_DELAY_S, self._send, response, close)
        else:
            self._send(response, close)

    def _send(self, response: bytes, close: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)
            if close:
                self.transport.close()


async def _serve(port: int, lifetime_s: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_UpstreamProtocol, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(bound, flush=True)
    async with server:
        # Bounded: the server exits by itself after lifetime_s even if the parent died.
        await asyncio.sleep(lifetime_s)


def run_server(port: int, lifetime_s: float) -> None:
    _run(_serve(port, lifetime_s), use_uvloop=True)


@contextlib.contextmanager
def upstream_server(lifetime_s: float) -> Iterator[int]:
    """Start the server in a child process; yield its port."""
    cmd = [sys.executable, os.path.abspath(__file__), "--serve", "--lifetime", str(lifetime_s)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- clients


def load(name: str) -> tuple[ModuleType | None, str]:
    """Import a candidate lazily; return (module or None, version or skip reason)."""
    module_name, dist, _ = CANDIDATES[name]
    try:
        mod = importlib.import_module(module_name)
    except ImportError as exc:
        return None, f"skipped ({exc})"
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(mod, "__version__", "?"))
    return mod, version


# --------------------------------------------------------------------------- benchmark


@dataclass
class Result:
    library: str
    concurrency: int
    requests: int
    wall_s: float
    cpu_s: float
    server_cpu_s: float
    connections: int
    errors: int
    capped: bool

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us_per_req(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else 0.0


async def _one(client: BenchClient, i: int) -> None:
    if i % POST_EVERY == 0:
        status, ctype, raw = await client.post(POST_PATH, POST_PARAMS, POST_BODY)
    else:
        status, ctype, raw = await client.get(GET_PATH, GET_PARAMS)
    data = orjson.loads(raw)
    if status != 200 or not ctype.startswith("text/plain") or "openid" not in data:
        raise RuntimeError(f"bad response: {status} {ctype} {raw[:80]!r}")


async def _server_stats(base_url: str) -> dict[str, float]:
    """Read the server's counters over a fresh raw connection (no client library involved)."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /__stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = await reader.read()
    writer.close()
    stats: dict[str, float] = orjson.loads(raw.split(b"\r\n\r\n", 1)[1])
    return stats


Operation = Callable[[int], Awaitable[None]]


async def bench_cell(
    name: str,
    op: Operation,
    base_url: str,
    total: int,
    concurrency: int,
    cap_s: float,
) -> Result:
    """Run ``total`` operations ``op(i)`` at ``concurrency``; measure this process's CPU."""
    # Warm-up: open the pool's connections and fill caches (fixed count, not measured).
    await asyncio.gather(*(op(i + 1) for i in range(concurrency * 2)))
    gc.collect()
    before = await _server_stats(base_url)
    per_worker = [
        total // concurrency + (1 if w < total % concurrency else 0) for w in range(concurrency)
    ]
    deadline = time.perf_counter() + cap_s

    async def worker(w: int, count: int) -> tuple[int, int]:
        """Run `count` operations (fewer if the cell's time cap is hit): (done, errors)."""
        done = errs = 0
        for k in range(count):
            if time.perf_counter() > deadline:
                break
            try:
                await op(w + k * concurrency)
            except Exception:
                errs += 1
            done += 1
        return done, errs

    cpu0, t0 = time.process_time(), time.perf_counter()
    async with asyncio.timeout(cap_s + 30.0):  # hard stop if a request hangs
        outcome = await asyncio.gather(*(worker(w, n) for w, n in enumerate(per_worker)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    after = await _server_stats(base_url)
    done = sum(d for d, _ in outcome)
    return Result(
        library=name,
        concurrency=concurrency,
        requests=done,
        wall_s=wall,
        cpu_s=cpu,
        server_cpu_s=after["cpu_s"] - before["cpu_s"],
        connections=int(after["connections"] - before["connections"]) - 1,  # minus stats conn
        errors=sum(e for _, e in outcome),
        capped=done < total,
    )


@contextlib.asynccontextmanager
async def raw_client(
    name: str, mod: ModuleType, base_url: str, pool: int
) -> AsyncIterator[Operation]:
    """The library alone: 9 in 10 GETs like jscode2session, 1 in 10 POST JSON."""
    client = CANDIDATES[name][2](mod, base_url, pool)
    try:
        yield partial(_one, client)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def wechat_client(
    name: str, mod: ModuleType, base_url: str, pool: int
) -> AsyncIterator[Operation]:
    """End to end: ``WeChatClient.code_to_session`` over the library (all GETs)."""
    from wxlogin.wechat import WeChatClient

    transport = as_transport(name, mod, base_url, pool)
    wechat = WeChatClient(
        GET_PARAMS["appid"], GET_PARAMS["secret"], base_url=base_url, transport=transport
    )

    async def login(i: int) -> None:
        session = await wechat.code_to_session(GET_PARAMS["js_code"])
        if not session.openid:
            raise RuntimeError("no openid")

    try:
        yield login
    finally:
        await wechat.aclose()
        await transport.aclose()


async def bench_all(args: argparse.Namespace, port: int) -> list[Result]:
    base_url = f"http://127.0.0.1:{port}"
    pool = max(args.concurrency)
    results: list[Result] = []
    for name in args.libraries:
        mod, version = load(name)
        if mod is None:
            print(f"{name}: {version}")
            continue
        for c in args.concurrency:
            workload = wechat_client if args.e2e else raw_client
            try:
                async with workload(name, mod, base_url, pool) as op:
                    res = await bench_cell(name, op, base_url, args.requests, c, args.cell_cap)
            except TimeoutError:
                print(f"{name} c={c}: a request hung past the cell cap, cell skipped")
                continue
            results.append(res)
            print(f"  done {name:15} c={c:<4} {res.rps:8.0f} req/s", flush=True)
    return results


def print_table(results: list[Result]) -> None:
    print()
    hdr = (
        f"| {'library':15} | {'conc':>4} | {'requests':>8} | {'req/s':>7} | "
        f"{'client CPU us/req':>17} | {'client CPU %':>12} | {'server CPU us/req':>17} | "
        f"{'new conns':>9} | {'errors':>6} |"
    )
    print(hdr)
    print("|" + "|".join("-" * len(c) for c in hdr.split("|")[1:-1]) + "|")
    for r in results:
        srv = r.server_cpu_s / r.requests * 1e6 if r.requests else 0.0
        util = r.cpu_s / r.wall_s * 100 if r.wall_s else 0.0
        done = f"{r.requests}{'*' if r.capped else ''}"
        print(
            f"| {r.library:15} | {r.concurrency:>4} | {done:>8} | {r.rps:>7.0f} | "
            f"{r.cpu_us_per_req:>17.1f} | {util:>12.0f} | {srv:>17.1f} | "
            f"{r.connections:>9} | {r.errors:>6} |"
        )
    if any(r.capped for r in results):
        print("* cell stopped at its time cap (--cell-cap) before all requests were sent")


# --------------------------------------------------------------------------- main


def _run(coro: Coroutine[object, object, T], use_uvloop: bool) -> T:
    if use_uvloop:
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(coro)
    return asyncio.run(coro)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=20_000, help="requests per cell")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 32, 100])
    p.add_argument(
        "--libraries", nargs="+", default=list(DEFAULT_LIBRARIES), choices=list(CANDIDATES)
    )
    p.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="client event loop (the server always uses uvloop if available)",
    )
    p.add_argument(
        "--cell-cap",
        type=float,
        default=CELL_CAP_S,
        help="seconds; a cell stops early (and is marked *) once its time cap is hit",
    )
    p.add_argument(
        "--e2e",
        action="store_true",
        help="measure WeChatClient.code_to_session over each library instead of the library",
    )
    p.add_argument("--serve", action="store_true", help="run only the upstream server")
    p.add_argument("--lifetime", type=float, default=300.0, help="server lifetime cap, s")
    args = p.parse_args(argv)

    if args.serve:
        run_server(0, args.lifetime)
        return 0

    use_uvloop = args.loop == "uvloop"
    loop_name = "asyncio"
    if use_uvloop:
        try:
            loop_name = f"uvloop {importlib.metadata.version('uvloop')}"
        except importlib.metadata.PackageNotFoundError:
            loop_name = "asyncio (uvloop not installed)"
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, client loop: {loop_name}, orjson {orjson.__version__}"
    )
    for name in args.libraries:
        print(f"  {name}: {load(name)[1]}")
    # httpcore (httpx 0.28) retries a failing `import sniffio` on every lock it creates when
    # sniffio is absent (recent anyio no longer pulls it in), which costs CPU per request.
    try:
        sniffio = f"sniffio {importlib.metadata.version('sniffio')}"
    except importlib.metadata.PackageNotFoundError:
        sniffio = "sniffio not installed"
    print(f"  ({sniffio})")
    print(
        f"workload: {args.requests} requests/cell, 1 in {POST_EVERY} is POST JSON, "
        f"pool limit {max(args.concurrency)}, concurrency {args.concurrency}"
    )

    with upstream_server(args.lifetime) as port:
        results = _run(bench_all(args, port), use_uvloop)
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
