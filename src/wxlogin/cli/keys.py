"""``wxlogin keys rotate|list``: the Ed25519 keys that sign access tokens, in the database."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wxlogin.cli._common import CliError, describe, fail, load_settings
from wxlogin.errors import WxLoginError

if TYPE_CHECKING:
    from wxlogin.config import Settings
    from wxlogin.service.keyring import KeyRing

# As service.keyring.ACTIVATE_IN (a literal, so that --help imports nothing heavy).
_ACTIVATE_IN = 30.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser(
        "keys",
        help="manage the keys that sign access tokens",
        description=(
            "Manage the Ed25519 keys that sign access tokens. They live in the database "
            "(private keys sealed with the session_key encryption key), shared by every "
            "process and machine."
        ),
    )
    keys.add_argument("--config", type=Path, help="a wxlogin.toml file")
    actions = keys.add_subparsers(title="keys commands", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate",
        help="make a new signing key",
        description=(
            "Add a new signing key. Running servers learn it at once through Redis, or within "
            "10 seconds from the database; it starts signing --activate-in seconds later, so "
            "every process knows it before any token it signs arrives. The key it replaces "
            "stays in the JWKS for access_token_ttl + token_leeway seconds after that, so "
            "tokens it signed keep verifying; keys retired longer ago are dropped."
        ),
    )
    rotate.add_argument(
        "--activate-in",
        type=float,
        default=_ACTIVATE_IN,
        metavar="SECONDS",
        help=f"seconds before the new key signs ({_ACTIVATE_IN:g}; 0 with a single process)",
    )
    rotate.set_defaults(handler=_rotate)
    listing = actions.add_parser("list", help="show the keys, newest first (never a secret)")
    listing.set_defaults(handler=_list)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@asynccontextmanager
async def _keyring(
    config: Path | None, *, announce: bool
) -> AsyncIterator[tuple[Settings, KeyRing]]:
    """The settings and the key ring on the configured database (migrated first); with
    ``announce`` and Redis configured, rotations are announced to running servers."""
    from wxlogin.cache.redis import RedisCache
    from wxlogin.private_files import session_key_encryption_key
    from wxlogin.service.keyring import KeyRing
    from wxlogin.store.repository import Store

    settings = load_settings(config)
    secret = session_key_encryption_key(settings)
    store = Store.from_url(settings.effective_database_url)
    cache = RedisCache(settings.redis_url) if announce and settings.redis_url else None
    try:
        await store.migrate()
        yield settings, await KeyRing.open(store, secret, data_dir=settings.data_dir, cache=cache)
    finally:
        await store.aclose()
        if cache is not None:
            await cache.aclose()


def _rotate(args: argparse.Namespace) -> int:
    async def go() -> tuple[str, float, list[str]]:
        async with _keyring(args.config, announce=True) as (settings, ring):
            fresh = await ring.rotate(
                keep_for=settings.access_token_ttl + settings.token_leeway,
                activate_in=args.activate_in,
            )
            return fresh.kid, fresh.activates_at, [k for k in ring.keys.kids if k != fresh.kid]

    if args.activate_in < 0:
        return fail("keys rotate", "--activate-in must not be negative")
    try:
        new_kid, activates_at, previous = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("keys rotate", describe(exc))
    print(f"new signing key: {new_kid}")
    print(f"signs from: {_when(activates_at)}")
    if previous:
        print("still published (they verify; none signs once the new key does):")
        for kid in previous:
            print(f"  {kid}")
    else:
        print("no older keys remain published")
    return 0


def _list(args: argparse.Namespace) -> int:
    async def go() -> list[tuple[str, float, float | None, bool]]:
        async with _keyring(args.config, announce=False) as (_, ring):
            active = ring.keys.active_kid
            return [
                (key.kid, key.activates_at, key.retired_at, key.kid == active)
                for key in reversed(ring.keys.keys)
            ]

    try:
        rows = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("keys list", describe(exc))
    print(f"{'kid':<44} {'signs from':<21} {'retired':<21} ")
    for kid, activates_at, retired_at, active in rows:
        mark = "  <- signing now" if active else ""
        print(f"{kid:<44} {_when(activates_at):<21} {_when(retired_at):<21}{mark}")
    return 0
