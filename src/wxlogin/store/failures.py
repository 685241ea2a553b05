"""The one place database failures become wxlogin errors.

Unreachable, locked or unmigrated databases are ``NotReady`` (503, retryable); a value the
database refuses (a NUL byte, text it cannot encode) is the request's fault (400); anything
else is an internal error. What a client sees is a code and a neutral sentence: never the
database's address, a file path or a driver's words (a driver message can quote a value — a
unique-key violation quotes the key — and values here include sealed session_keys). What an
operator needs goes in ``detail``: the database, password masked, and the driver's exception
class; the API logs it, the CLI prints it.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from wxlogin.errors import InvalidRequest, NotReady, WxLoginError

__all__ = ["is_retryable_conflict", "map_db_error", "sqlstate_of", "unit_failure"]

# SQLite's words, and PostgreSQL's SQLSTATEs (undefined_table, undefined_column, undefined
# function), for a database that was never migrated or is behind.
_MISSING_SCHEMA_TEXT: Final = ("no such table", "no such column")
_MISSING_SCHEMA_SQLSTATES: Final = frozenset({"42P01", "42703", "42883"})
# PostgreSQL: deadlock detected, serialization failure. Worth running again from the start.
RETRY_SQLSTATES: Final = frozenset({"40P01", "40001"})
# Class 08 (connection exception), 53 (insufficient resources), 57P0x (shutting down).
_UNAVAILABLE_SQLSTATE_PREFIXES: Final = ("08", "53", "57P")
# Class 22: data exception — a value the database cannot take (a NUL byte, bad encoding).
_DATA_SQLSTATE_PREFIX: Final = "22"
# Waits the database gave up on: lock_not_available (lock_timeout), query_canceled
# (statement_timeout, or an operator's pg_cancel_backend). Settings operators are told to use;
# what they end is a busy moment, so a 503 worth retrying, never a 500.
_GAVE_UP_SQLSTATES: Final = frozenset({"55P03", "57014"})

_UNAVAILABLE: Final = "the database is not available right now; retry later"
_UNMIGRATED: Final = "the database is not set up for this version of wxlogin"
_FAILED: Final = "the database could not complete the request"
_BUSY: Final = "the database is busy right now; retry later"


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
        return NotReady(_UNAVAILABLE, detail=f"the database at {where} did not answer in time")
    if isinstance(error, OSError):
        reason = error.strerror or kind
        return NotReady(
            _UNAVAILABLE, detail=f"cannot connect to the database at {where} ({reason})"
        )
    if isinstance(error, sqlite3.Error):
        return _sqlite(error, where, kind)
    sqlstate = sqlstate_of(error)
    if sqlstate is not None:
        if sqlstate in _MISSING_SCHEMA_SQLSTATES:
            return _unmigrated(where)
        if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return NotReady(_UNAVAILABLE, detail=f"the database at {where} is unavailable ({kind})")
        if sqlstate in _GAVE_UP_SQLSTATES:
            return _gave_up(where, f"{kind}, SQLSTATE {sqlstate}")
        if sqlstate.startswith(_DATA_SQLSTATE_PREFIX):
            return InvalidRequest(
                "a value in the request cannot be stored",
                detail=f"the database at {where} refused a value ({kind}, SQLSTATE {sqlstate})",
            )
        return WxLoginError(_FAILED, detail=f"database error from {where} ({kind})")
    if kind in ("InterfaceError", "ConnectionDoesNotExistError", "InternalClientError"):
        # asyncpg's client-side failures: a connection that broke or was closed under us.
        return NotReady(_UNAVAILABLE, detail=f"the database at {where} is unavailable ({kind})")
    return WxLoginError(_FAILED, detail=f"database error from {where} ({kind})")


def unit_failure(where: str, sqlstate: str | None) -> WxLoginError:
    """A unit of a batch that a PostgreSQL batch function reported as failed."""
    # The batch functions catch a unit's error and report its SQLSTATE: read it as
    # map_db_error reads one raised (a table missing there is an unmigrated database too).
    if sqlstate in _MISSING_SCHEMA_SQLSTATES:
        return _unmigrated(where)
    if sqlstate in _GAVE_UP_SQLSTATES:
        return _gave_up(where, f"SQLSTATE {sqlstate}")
    if sqlstate and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return NotReady(_UNAVAILABLE, detail=f"the database at {where} is unavailable ({sqlstate})")
    if sqlstate and sqlstate.startswith(_DATA_SQLSTATE_PREFIX):
        return InvalidRequest(
            "a value in the request cannot be stored",
            detail=f"the database at {where} refused a value (SQLSTATE {sqlstate})",
        )
    what = f"SQLSTATE {sqlstate}" if sqlstate else "no outcome"
    return WxLoginError(_FAILED, detail=f"database error from {where} ({what})")


def _sqlite(error: sqlite3.Error, where: str, kind: str) -> WxLoginError:
    text = str(error).lower()
    if any(marker in text for marker in _MISSING_SCHEMA_TEXT):
        return _unmigrated(where)
    if "locked" in text or "busy" in text:
        return NotReady(
            _UNAVAILABLE, detail=f"the SQLite database at {where} stayed locked by another writer"
        )
    if "unable to open" in text or "disk i/o" in text or "readonly" in text:
        return NotReady(
            _UNAVAILABLE, detail=f"the SQLite database at {where} cannot be written ({kind})"
        )
    return WxLoginError(_FAILED, detail=f"database error from {where} ({kind})")


def _gave_up(where: str, what: str) -> NotReady:
    return NotReady(_BUSY, detail=f"the database at {where} gave up waiting ({what})")


def _unmigrated(where: str) -> NotReady:
    return NotReady(
        _UNMIGRATED,
        detail=f"the database at {where} has no wxlogin schema or an old one; "
        "run `wxlogin db upgrade`",
    )
