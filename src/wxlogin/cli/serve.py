"""``wxlogin serve``: run the login service from WXLOGIN_* / wxlogin.toml settings."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wxlogin.config import Settings

_log = logging.getLogger("wxlogin.cli")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the login service (production)",
        description="Run wxlogin with settings from WXLOGIN_* variables and/or wxlogin.toml.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--config", type=Path, help="a wxlogin.toml file")
    parser.set_defaults(handler=run)


async def _prepare(settings: Settings) -> None:
    """Migrate and create the keys once, before any worker starts, so workers never race (and
    a key sealed with another encryption key stops start-up with one line)."""
    from wxlogin.private_files import session_key_encryption_key
    from wxlogin.service.keyring import KeyRing
    from wxlogin.store.repository import Store

    secret = session_key_encryption_key(settings)
    store = Store.from_url(settings.effective_database_url)
    try:
        await store.migrate()
        await KeyRing.open(store, secret, data_dir=settings.data_dir)
    finally:
        await store.aclose()


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from wxlogin.cli._common import (
        CliError,
        configure_logging,
        describe,
        fail,
        load_settings,
        port_in_use,
    )
    from wxlogin.errors import WxLoginError
    from wxlogin.logs import logging_config

    try:
        if args.config is not None:
            os.environ["WXLOGIN_CONFIG"] = str(args.config)  # the workers read it too
        settings = load_settings(args.config)
        if not settings.apps:
            raise CliError("no mini program configured: set WXLOGIN_APPS=APPID:SECRET")
        if args.workers > 1 and settings.effective_database_url.startswith("sqlite"):
            # One process owns SQLite's writer (its group commit is what makes SQLite fast);
            # workers would queue on the file lock and lose logins to timeouts, not gain any.
            raise CliError(
                f"--workers {args.workers} needs PostgreSQL: on SQLite one process owns the "
                "writer, and it already does more logins per second than extra workers could "
                "(docs/performance.md). Run one worker, or set WXLOGIN_DATABASE_URL to a "
                "postgresql:// URL (and WXLOGIN_REDIS_URL) to scale out"
            )
        if args.workers < 1:
            raise CliError("--workers must be at least 1")
        busy = port_in_use(args.host, args.port, "--port")
        if busy is not None:
            raise busy
        log_format = settings.log_format or "json"
        configure_logging(settings.log_level, log_format)
        asyncio.run(_prepare(settings))
    except (CliError, WxLoginError) as exc:
        return fail("serve", describe(exc))
    if args.workers > 1 and not settings.redis_url:
        _log.warning(
            "%d workers without WXLOGIN_REDIS_URL: rate limits and the access_token cache are "
            "per worker, and a logout reaches other workers only after they poll the database",
            args.workers,
        )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        _log.info("listening on %s: make sure a TLS-terminating proxy sits in front", args.host)
    own_metrics_dir = _metrics_dir(settings) if args.workers > 1 else None
    try:
        uvicorn.run(
            "wxlogin.api.asgi:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level=settings.log_level.lower(),
            # Applied by uvicorn in every worker: our format for every logger, its own too.
            log_config=logging_config(log_format, settings.log_level),
            proxy_headers=settings.trust_forwarded_for,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            # On SIGTERM, requests in flight get this long to finish (a login waits on WeChat
            # for 5 s at most); then their connections are closed and the service shuts down
            # in order. Below the 30 s that systemd and compose allow, so the cut is ours.
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
    finally:
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
    return 0


SHUTDOWN_GRACE_SECONDS = 20


def _metrics_dir(settings: Settings) -> Path | None:
    """The directory the workers add up their metrics in (a scrape reaches any one of them):
    the configured one, emptied of an earlier run's files, or one of our own (returned, to be
    removed at exit). The workers learn it from the environment, as they learn every setting."""
    from wxlogin.metrics import clear_directory

    if settings.metrics_dir is not None:
        clear_directory(settings.metrics_dir)
        return None
    made = Path(tempfile.mkdtemp(prefix="wxlogin-metrics-"))
    os.environ["WXLOGIN_METRICS_DIR"] = str(made)
    return made
