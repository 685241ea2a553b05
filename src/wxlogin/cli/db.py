"""``wxlogin db upgrade|prune``: migrate the schema; delete what no longer matters."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from wxlogin.cli._common import CliError, describe, fail, load_settings
from wxlogin.errors import WxLoginError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser(
        "db",
        help="database schema migrations",
        description="Manage the wxlogin database schema (Alembic migrations shipped inside).",
    )
    db.add_argument("--config", type=Path, help="a wxlogin.toml file")
    actions = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="migrate to the newest schema (safe to run repeatedly)",
        description=(
            "Apply every pending migration to the configured database (database_url, or the "
            "SQLite file in data_dir). Running it again does nothing."
        ),
    )
    upgrade.set_defaults(handler=_upgrade)
    prune = actions.add_parser(
        "prune",
        help="delete expired sessions, old spent refresh tokens, callbacks and message records",
        description=(
            "Delete sessions expired or revoked more than session_retention ago (with the "
            "refresh tokens they spent), spent refresh tokens older than refresh_token_ttl, "
            "WeChat Pay callbacks older than pay_event_retention and subscribe-message "
            "records older than message_send_retention. The server does the same every "
            "prune_interval seconds; on PostgreSQL one pruner runs at a time."
        ),
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
    )
    prune.set_defaults(handler=_prune)


def _upgrade(args: argparse.Namespace) -> int:
    from wxlogin.store.repository import Store

    async def go() -> tuple[str, str | None, str | None]:
        settings = load_settings(args.config)
        store = Store.from_url(settings.effective_database_url)
        try:
            before = await store.current_revision()
            await store.migrate()
            return store.url, before, await store.current_revision()
        finally:
            await store.aclose()

    try:
        url, before, after = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("db upgrade", describe(exc))
    print(f"database: {url}")
    if before == after:
        print(f"revision: {after} (already up to date)")
    else:
        print(f"revision: {before or 'empty'} -> {after}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from wxlogin.service.pruner import Pruner, Retention
    from wxlogin.store.prune import PruneCounts
    from wxlogin.store.repository import Store

    async def go() -> tuple[str, PruneCounts | None]:
        settings = load_settings(args.config)
        store = Store.from_url(settings.effective_database_url)
        try:
            await store.migrate()
            pruner = Pruner(store, Retention.from_settings(settings), interval=0)
            return store.url, await (pruner.count() if args.dry_run else pruner.prune())
        finally:
            await store.aclose()

    try:
        url, counts = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("db prune", describe(exc))
    print(f"database: {url}")
    if counts is None:
        print("another process is pruning right now; nothing done here")
        return 0
    print("would delete (dry run):" if args.dry_run else "deleted:")
    for name, count in counts.as_dict().items():
        print(f"  {name.replace('_', ' '):<22} {count}")
    return 0
