"""``Store.maintenance``: deleting what no longer matters, so tables stop growing.

What goes (the cut-offs are the caller's; ``service/pruner.py`` derives them from settings):

* sessions that expired, or were revoked, before ``sessions`` — with the refresh tokens they
  spent (the rows that reference them);
* spent refresh tokens of live sessions, used before ``spent_refresh_tokens``;
* WeChat Pay callbacks received before ``pay_events``;
* subscribe-message records sent before ``message_sends``.

Deletes run in small batches, each its own transaction, so no lock is held for long and, on
SQLite, the event loop is never held for more than a batch (it runs with the logins' group
commit). On PostgreSQL one pruner runs at a time across every process and machine: the run
holds a session-level advisory lock (named after the schema) on its connection; a second
pruner finds it taken and returns at once. Losing the connection releases the lock. Each
batch on PostgreSQL is one statement; a session and its spent tokens go together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from wxlogin.store.tx import Transactions, Tx, Work, aware_utc

__all__ = ["Maintenance", "PruneCounts", "PruneCutoffs"]


BATCH: Final = 500

_EXPIRED: Final = "(expires_at < ? OR revoked_at < ?)"
_COUNT_SESSIONS: Final = f"SELECT count(*) AS n FROM sessions WHERE {_EXPIRED}"
_COUNT_SPENT: Final = (
    "SELECT count(*) AS n FROM used_refresh_tokens WHERE used_at < ? OR session_id IN "
    f"(SELECT id FROM sessions WHERE {_EXPIRED})"
)
_COUNT_PAY_EVENTS: Final = "SELECT count(*) AS n FROM pay_events WHERE received_at < ?"
_COUNT_SENDS: Final = "SELECT count(*) AS n FROM message_sends WHERE sent_at < ?"

_DELETE_SPENT: Final = (
    "DELETE FROM used_refresh_tokens WHERE token_hash IN "
    "(SELECT token_hash FROM used_refresh_tokens WHERE used_at < ? LIMIT ?)"
)
_DELETE_PAY_EVENTS: Final = (
    "DELETE FROM pay_events WHERE id IN (SELECT id FROM pay_events WHERE received_at < ? LIMIT ?)"
)
_DELETE_SENDS: Final = (
    "DELETE FROM message_sends WHERE id IN (SELECT id FROM message_sends WHERE sent_at < ? LIMIT ?)"
)
# SQLite: pick the sessions, then their spent tokens and them, in one write transaction.
_SQLITE_DOOMED: Final = f"SELECT id FROM sessions WHERE {_EXPIRED} LIMIT ?"
_SQLITE_SPENT_OF: Final = (
    "DELETE FROM used_refresh_tokens WHERE session_id IN (SELECT value FROM json_each(?))"
)
_SQLITE_SESSIONS: Final = "DELETE FROM sessions WHERE id IN (SELECT value FROM json_each(?))"
# PostgreSQL: the same in one statement; rows another transaction holds are left for later.
_PG_SESSIONS: Final = (
    "WITH doomed AS (SELECT id FROM sessions WHERE expires_at < $1 OR revoked_at < $1 "
    "LIMIT $2 FOR UPDATE SKIP LOCKED), "
    "spent AS (DELETE FROM used_refresh_tokens AS u USING doomed WHERE u.session_id = doomed.id "
    "RETURNING 1), "
    "gone AS (DELETE FROM sessions AS s USING doomed WHERE s.id = doomed.id RETURNING 1) "
    "SELECT (SELECT count(*) FROM gone) AS sessions, (SELECT count(*) FROM spent) AS spent"
)
_PG_LOCK_KEY: Final = "hashtext(current_schema() || ':wxlogin-prune')"
_PG_TRY_LOCK: Final = f"SELECT pg_try_advisory_lock({_PG_LOCK_KEY}) AS got"
_PG_UNLOCK: Final = f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})"


@dataclass(frozen=True, slots=True)
class PruneCutoffs:
    """Rows older than these (aware UTC datetimes) go; see the module docstring."""

    sessions: datetime
    spent_refresh_tokens: datetime
    pay_events: datetime
    message_sends: datetime


@dataclass(slots=True)
class PruneCounts:
    """Rows deleted (or, for a dry run, that would be) per table."""

    sessions: int = 0
    spent_refresh_tokens: int = 0
    pay_events: int = 0
    message_sends: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Maintenance:
    def __init__(self, backend: Transactions) -> None:
        self._backend = backend

    async def count(self, cutoffs: PruneCutoffs) -> PruneCounts:
        """What ``prune`` would delete now (``wxlogin db prune --dry-run``)."""
        c = _checked(cutoffs)

        async def work(tx: Tx) -> PruneCounts:
            async def n(statement: str, *args: Any) -> int:
                row = await tx.one(tx.sql.adapt(statement), *args)
                return 0 if row is None else int(row["n"])

            return PruneCounts(
                sessions=await n(_COUNT_SESSIONS, c.sessions, c.sessions),
                spent_refresh_tokens=await n(
                    _COUNT_SPENT, c.spent_refresh_tokens, c.sessions, c.sessions
                ),
                pay_events=await n(_COUNT_PAY_EVENTS, c.pay_events),
                message_sends=await n(_COUNT_SENDS, c.message_sends),
            )

        return await self._backend.read(work)

    async def prune(self, cutoffs: PruneCutoffs, *, batch: int = BATCH) -> PruneCounts | None:
        """Delete everything older than the cut-offs; the counts, or None when another pruner
        is at work (PostgreSQL) and this one did nothing."""
        c = _checked(cutoffs)
        if self._backend.dialect == "postgresql":
            return await self._backend.read(lambda tx: _prune_postgres(tx, c, batch))
        return await _prune_sqlite(self._backend, c, batch)


def _checked(cutoffs: PruneCutoffs) -> PruneCutoffs:
    return PruneCutoffs(*(aware_utc(getattr(cutoffs, f.name), f.name) for f in fields(cutoffs)))


async def _prune_postgres(tx: Tx, c: PruneCutoffs, batch: int) -> PruneCounts | None:
    """On one connection in autocommit: each statement below is a transaction of its own."""
    row = await tx.one(_PG_TRY_LOCK)
    if row is None or not row["got"]:
        return None
    counts = PruneCounts()
    try:
        while True:
            done = await tx.one(_PG_SESSIONS, c.sessions, batch)
            gone = 0 if done is None else int(done["sessions"])
            counts.sessions += gone
            counts.spent_refresh_tokens += 0 if done is None else int(done["spent"])
            if gone < batch:
                break
            await asyncio.sleep(0)
        for statement, cutoff, name in _SIMPLE:
            while True:
                deleted = await tx.run(tx.sql.adapt(statement), getattr(c, cutoff), batch)
                setattr(counts, name, getattr(counts, name) + deleted)
                if deleted < batch:
                    break
                await asyncio.sleep(0)
    finally:
        # A connection too broken to unlock takes its session-level lock with it when it is
        # closed; the error that broke it is the one worth raising.
        with contextlib.suppress(Exception):
            await tx.one(_PG_UNLOCK)
    return counts


async def _prune_sqlite(backend: Transactions, c: PruneCutoffs, batch: int) -> PruneCounts:
    counts = PruneCounts()

    async def sessions(tx: Tx) -> tuple[int, int]:
        rows = await tx.all(_SQLITE_DOOMED, c.sessions, c.sessions, batch)
        if not rows:
            return 0, 0
        ids = json.dumps([row["id"] for row in rows])
        spent = await tx.run(_SQLITE_SPENT_OF, ids)
        return await tx.run(_SQLITE_SESSIONS, ids), spent

    while True:
        gone, spent = await backend.write(sessions)
        counts.sessions += gone
        counts.spent_refresh_tokens += spent
        if gone < batch:
            break
    for statement, cutoff, name in _SIMPLE:
        delete = _delete_batch(statement, getattr(c, cutoff), batch)
        while True:
            deleted = await backend.write(delete)
            setattr(counts, name, getattr(counts, name) + deleted)
            if deleted < batch:
                break
    return counts


def _delete_batch(statement: str, cutoff: datetime, batch: int) -> Work[int]:
    async def unit(tx: Tx) -> int:
        return await tx.run(statement, cutoff, batch)

    return unit


# (statement, the cut-off it takes, the count it adds to)
_SIMPLE: Final = (
    (_DELETE_SPENT, "spent_refresh_tokens", "spent_refresh_tokens"),
    (_DELETE_PAY_EVENTS, "pay_events", "pay_events"),
    (_DELETE_SENDS, "message_sends", "message_sends"),
)
