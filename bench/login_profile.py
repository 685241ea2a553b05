"""Where a login's CPU goes, inside one process: the ASGI app, the service, the store.

Drives the real ``create_app`` in-process (no HTTP server: the ASGI calls are made directly,
so uvicorn's own cost is left out on purpose) with ``--concurrency`` logins in flight, against
the bench's upstream stub (``upstream_stub.py``, a child process, real sockets, no added
latency) and a fresh database. Reports the CPU of this process per login — every thread of it,
the SQLite writer included — and, with ``--profile``, cProfile's view grouped by package.

    python bench/login_profile.py [--logins 4000] [--concurrency 64]
        [--backend sqlite|postgres] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from _loadgen import free_port, run_loop
from wxlogin.api.app import create_app
from wxlogin.config import Settings
from wxlogin.store.target import parse_target

APPID = "wx1234567890abcdef"
SECRET = "bench-secret-0123456789abcdef01"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
HERE = Path(__file__).resolve().parent

Message = MutableMapping[str, Any]


async def call(app: Any, path: str, body: bytes) -> tuple[int, bytes]:
    """One POST through the ASGI app, the way uvicorn would make it."""
    status = 0
    chunks: list[bytes] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # a client that keeps the connection open
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "query_string": b"",
    }
    await app(scope, receive, send)
    return status, b"".join(chunks)


async def drive(
    make_call: Callable[[int], Awaitable[tuple[int, bytes]]], total: int, concurrency: int
) -> Counter[int]:
    statuses: Counter[int] = Counter()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            status, _ = await make_call(index)
            statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def pg_schema(create: bool, schema: str) -> None:
    conn = await asyncpg.connect(parse_target(DEFAULT_PG).dsn)
    try:
        verb = f'CREATE SCHEMA "{schema}"' if create else f'DROP SCHEMA "{schema}" CASCADE'
        await conn.execute(verb)
    finally:
        await conn.close()


def start_stub() -> tuple[subprocess.Popen[bytes], int]:
    """The upstream stub, with no added latency; returns once it listens."""
    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, str(HERE / "upstream_stub.py"), "--port", str(port), "--latency-ms", "0"],
        stdout=subprocess.PIPE,
    )
    assert stub.stdout is not None
    stub.stdout.readline()  # "stub listening on …": it accepts connections from now on
    return stub, port


async def main(args: argparse.Namespace, tmp: Path, port: int) -> None:
    schema = f"bench_{secrets.token_hex(4)}"
    database_url = f"sqlite:///{tmp / 'wxlogin.db'}"
    if args.backend == "postgres":
        await pg_schema(True, schema)
        database_url = f"{DEFAULT_PG}?options=-csearch_path%3D{schema}"
    try:
        settings = Settings(
            apps=[{"appid": APPID, "secret": SECRET}],
            database_url=database_url,
            data_dir=tmp / "data",
            wechat_base_url=f"http://127.0.0.1:{port}",
            public_url="http://bench",
            redis_url=None,
            login_rate_limit_per_ip=0,
            login_rate_limit_per_app=0,
        )
        app = create_app(settings)
        async with app.running():
            # Warm up: connections, prepared statements, the stub's keep-alive.
            await drive(lambda i: call(app, "/auth/login", b'{"code":"w%da"}' % i), 200, 16)
            profiler = cProfile.Profile() if args.profile else None
            started = time.process_time()
            if profiler is not None:
                profiler.enable()
            # Each user logs in twice: "<n>a" first, "<n>b" returning (see upstream_stub.py).
            statuses = await drive(
                lambda i: call(
                    app, "/auth/login", b'{"code":"u%d%s"}' % (i // 2, b"ab"[i % 2 : i % 2 + 1])
                ),
                args.logins,
                args.concurrency,
            )
            if profiler is not None:
                profiler.disable()
            cpu = time.process_time() - started
        print(
            orjson.dumps(
                {
                    "backend": args.backend,
                    "logins": args.logins,
                    "statuses": {str(k): v for k, v in statuses.items()},
                    "cpu_us_per_login": round(cpu / args.logins * 1e6, 1),
                }
            ).decode()
        )
        if profiler is not None:
            report(profiler)
    finally:
        if args.backend == "postgres":
            await pg_schema(False, schema)


def report(profiler: cProfile.Profile) -> None:
    """Own time per package (what runs in this process's threads, Python-visible)."""
    stats = pstats.Stats(profiler)
    by_package: Counter[str] = Counter()
    total = 0.0
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += own
        if "site-packages" in filename:
            package = filename.split("site-packages/")[1].split("/")[0]
        elif "/src/wxlogin/" in filename:
            package = "wxlogin/" + filename.split("/src/wxlogin/")[1]
        elif filename.startswith("~"):
            package = "builtins (C calls)"
        else:
            package = "stdlib/" + os.path.basename(filename)
        by_package[package] += own
    for package, own in by_package.most_common(25):
        print(f"{own / total * 100:5.1f}%  {package}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--profile", action="store_true")
    arguments = parser.parse_args()
    upstream, upstream_port = start_stub()
    try:
        with tempfile.TemporaryDirectory() as directory:
            run_loop(main(arguments, Path(directory), upstream_port))
    finally:
        upstream.terminate()
        upstream.wait()
