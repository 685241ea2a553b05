"""``wxlogin db upgrade``: migrate the database to the schema this version needs."""

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
