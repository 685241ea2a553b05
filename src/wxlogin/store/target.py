"""Which database a URL names, in the terms the two drivers want.

Accepted: ``sqlite:///path`` (also ``sqlite+aiosqlite://`` / ``sqlite+pysqlite://``, the forms
earlier versions wrote) and ``postgresql://`` / ``postgres://`` / ``postgresql+asyncpg://``.
A libpq-style ``options=-csearch_path=...`` query parameter is honoured on PostgreSQL, so a
URL can point at one schema (the tests use a schema per test).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from wxlogin.config import redact_url
from wxlogin.errors import ConfigurationError
from wxlogin.private_files import ensure_private_dir

__all__ = ["DatabaseTarget", "parse_target"]

Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    backend: Backend
    # The URL as given, password masked: what messages and reprs show.
    display: str
    # SQLite: the database file (or a ``file:`` URI, with ``uri`` set).
    sqlite_path: str = ""
    sqlite_uri: bool = False
    # PostgreSQL: a plain libpq DSN for asyncpg (password inside: never shown) and the
    # ``-c name=value`` settings of ``options``.
    dsn: str = field(default="", repr=False)
    server_settings: dict[str, str] = field(default_factory=dict)
    # The SQLAlchemy URL Alembic migrates through (sync sqlite3, or asyncpg).
    migration_url: str = field(default="", repr=False)


def parse_target(url: str) -> DatabaseTarget:
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigurationError("database_url: not a URL (use sqlite:///path or postgresql://)")
    backend = scheme.lower().partition("+")[0]
    if backend == "sqlite":
        return _sqlite(url)
    if backend in ("postgresql", "postgres"):
        return _postgresql(url)
    raise ConfigurationError(
        f"database_url: unsupported database {backend!r} (use sqlite or postgresql)"
    )


def _sqlite(url: str) -> DatabaseTarget:
    rest = url.partition("://")[2]
    path, _, query = rest.partition("?")
    # sqlite:///relative and sqlite:////absolute, as SQLAlchemy spells them.
    path = unquote(path[1:]) if path.startswith("/") else unquote(path)
    if path in ("", ":memory:") or "mode=memory" in query:
        raise ConfigurationError(
            "database_url: in-memory SQLite is not supported (the writer thread and the "
            "readers would each see their own empty database); use a file"
        )
    uri = path.startswith("file:")
    if not uri:
        ensure_private_dir(Path(path).expanduser().resolve().parent)
        path = str(Path(path).expanduser())
    return DatabaseTarget(
        backend="sqlite",
        display=redact_url(url),
        sqlite_path=path,
        sqlite_uri=uri,
        migration_url=f"sqlite:///{path}?uri=true" if uri else f"sqlite:///{path}",
    )


def _postgresql(url: str) -> DatabaseTarget:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    settings: dict[str, str] = {}
    kept: list[tuple[str, str]] = []
    for name, value in query:
        if name == "options":
            settings.update(_parse_pg_options(value))
        else:
            kept.append((name, value))
    plain = parts._replace(scheme="postgresql", query=urlencode(kept))
    migration = parts._replace(scheme="postgresql+asyncpg", query=urlencode(kept))
    return DatabaseTarget(
        backend="postgresql",
        display=redact_url(url),
        dsn=urlunsplit(plain),
        server_settings=settings,
        migration_url=urlunsplit(migration),
    )


def _parse_pg_options(options: str) -> dict[str, str]:
    """``-c name=value`` pairs of a libpq ``options`` string, as asyncpg server settings."""
    settings: dict[str, str] = {}
    words = shlex.split(options)
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-c" and index + 1 < len(words):
            index += 1
            word = words[index]
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            raise ConfigurationError("database_url: only -c name=value is supported in options")
        name, sep, value = word.partition("=")
        if not sep:
            raise ConfigurationError("database_url: options must be -c name=value")
        settings[name.replace("-", "_")] = value
        index += 1
    return settings
