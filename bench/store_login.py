"""CPU per ``Store.login`` alone: no HTTP, no upstream, ``--concurrency`` logins in flight.

Measures this process's CPU (every thread) per login for first logins (a new user each) and
returning ones (the same users again), on a fresh SQLite file or a fresh PostgreSQL schema,
and prints how the logins were grouped into transactions. For PostgreSQL the server's own CPU
is not included (see side_by_side.py for that).

    python bench/store_login.py [--backend sqlite|postgres] [--logins 4000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import orjson

from _loadgen import run_loop
from wxlogin.store import Store
from wxlogin.store.target import parse_target

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


async def measure(store: Store, prefix: str, count: int, concurrency: int) -> float:
    now = datetime.now(UTC)
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await store.login(
                appid="wx1234567890abcdef",
                openid=f"{prefix}{n}",
                unionid=None,
                session_id=secrets.token_urlsafe(16),
                session_key_enc=secrets.token_bytes(44),
                refresh_hash=secrets.token_bytes(32),
                expires_at=now + timedelta(days=30),
                now=now,
            )

    started = time.process_time()
    await asyncio.gather(*(one(n) for n in range(count)))
    return (time.process_time() - started) / count * 1e6


async def main(args: argparse.Namespace, directory: Path) -> None:
    schema = f"bench_{secrets.token_hex(4)}"
    url = f"sqlite:///{directory / 'wxlogin.db'}"
    admin = None
    if args.backend == "postgres":
        admin = await asyncpg.connect(parse_target(DEFAULT_PG).dsn)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{DEFAULT_PG}?options=-csearch_path%3D{schema}"
    store = Store.from_url(url)
    try:
        await store.migrate()
        await measure(store, "warm-", 200, args.concurrency)
        before = store.stats.batches, store.stats.batched_units
        first = await measure(store, "user-", args.logins, args.concurrency)
        returning = await measure(store, "user-", args.logins, args.concurrency)
        batches = store.stats.batches - before[0]
        units = store.stats.batched_units - before[1]
        print(
            orjson.dumps(
                {
                    "backend": args.backend,
                    "concurrency": args.concurrency,
                    "cpu_us_first_login": round(first, 1),
                    "cpu_us_returning_login": round(returning, 1),
                    "logins_per_transaction": round(units / batches, 1) if batches else None,
                    "deadlock_retries": store.stats.deadlock_retries,
                }
            ).decode()
        )
    finally:
        await store.aclose()
        if admin is not None:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--logins", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_loop(main(arguments, Path(tmp)))
