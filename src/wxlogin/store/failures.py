"""The one place database failures become wxlogin errors.

Unreachable, locked or unmigrated databases are ``NotReady`` (503, retryable); anything else is
an internal error. Messages name the database (password masked) and the driver's exception
class, never a statement's parameters or the driver's own text: a driver message can quote a
value (a unique-key violation quotes the key), and values here include sealed session_keys.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from wxlogin.errors import NotReady, WxLoginError

__all__ = ["is_retryable_conflict", "map_db_error", "sqlstate_of"]

# SQLite's words, and PostgreSQL's SQLSTATEs (undefined_table, undefined_column, undefined
# function), for a database that was never migrated or is behind.
_MISSING_SCHEMA_TEXT: Final = ("no such table", "no such column")
_MISSING_SCHEMA_SQLSTATES: Final = frozenset({"42P01", "42703", "42883"})
# PostgreSQL: deadlock detected, serialization failure. Worth running again from the start.
RETRY_SQLSTATES: Final = frozenset({"40P01", "40001"})
# Class 08 (connection exception), 53 (insufficient resources), 57P0x (shutting down).
_UNAVAILABLE_SQLSTATE_PREFIXES: Final = ("08", "53", "57P")


def sqlstate_of(error: BaseException) -> str | None:
    # asyncpg calls it ``sqlstate``; SQLAlchemy's adapted asyncpg errors (migrations) ``pgcode``.
    for name in ("sqlstate", "pgcode"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            return value
    return None


def is_retryable_conflict(error: BaseException) -> bool:
    """A PostgreSQL deadlock or serialization failure: the whole transaction may run again."""
    return sqlstate_of(error) in RETRY_SQLSTATES


def map_db_error(error: BaseException, *, where: str) -> WxLoginError:
    """The wxlogin error for a failure of the database at ``where`` (a masked URL)."""
    if isinstance(error, WxLoginError):
        return error
    kind = type(error).__name__
    if isinstance(error, TimeoutError):
        return NotReady(f"the database at {where} did not answer in time")
    if isinstance(error, OSError):
        reason = error.strerror or kind
        return NotReady(f"cannot connect to the database at {where} ({reason})")
    if isinstance(error, sqlite3.Error):
        return _sqlite(error, where, kind)
    sqlstate = sqlstate_of(error)
    if sqlstate is not None:
        if sqlstate in _MISSING_SCHEMA_SQLSTATES:
            return _unmigrated(where)
        if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return NotReady(f"the database at {where} is unavailable ({kind})")
        return WxLoginError(f"database error from {where} ({kind})")
    if kind in ("InterfaceError", "ConnectionDoesNotExistError", "InternalClientError"):
        # asyncpg's client-side failures: a connection that broke or was closed under us.
        return NotReady(f"the database at {where} is unavailable ({kind})")
    return WxLoginError(f"database error from {where} ({kind})")


def _sqlite(error: sqlite3.Error, where: str, kind: str) -> WxLoginError:
    text = str(error).lower()
    if any(marker in text for marker in _MISSING_SCHEMA_TEXT):
        return _unmigrated(where)
    if "locked" in text or "busy" in text:
        return NotReady(f"the SQLite database at {where} stayed locked by another writer")
    if "unable to open" in text or "disk i/o" in text or "readonly" in text:
        return NotReady(f"the SQLite database at {where} cannot be written ({kind})")
    return WxLoginError(f"database error from {where} ({kind})")


def _unmigrated(where: str) -> NotReady:
    return NotReady(
        f"the database at {where} has no wxlogin schema or an old one; run `wxlogin db upgrade`"
    )
