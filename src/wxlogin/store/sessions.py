"""Sessions: refresh-token rotation with reuse detection, revocation, the revocation feed.

Each function is one unit of work over a ``Tx``. On PostgreSQL rotation also exists as a batch
function (migration 0002) that follows exactly these rules; ``rotation_outcome`` below is the
one place the outcome of a rotation is decided from what the database said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from wxlogin.store.records import RotateOutcome, RotateResult, SessionRecord
from wxlogin.store.tx import Row, Tx
from wxlogin.store.users import live_row

__all__ = [
    "REFRESH_REUSED",
    "RotateParams",
    "get_session",
    "revoke_session",
    "revoke_user_sessions",
    "revoked_since",
    "rotate",
    "session_record",
]

REFRESH_REUSED: Final = "refresh_reused"


@dataclass(frozen=True, slots=True)
class RotateParams:
    session_id: str
    presented_hash: bytes = field(repr=False)
    # The presented token's successor. The service derives it from the presented token, so
    # the same token always has the same successor (which is what makes a replay answerable).
    new_hash: bytes = field(repr=False)
    expires_at: datetime
    now: datetime
    # A spent token presented again less than this long after it was spent gets REPLAYED
    # (while its successor is still current); later, or with 0, it revokes the session.
    grace: timedelta = timedelta(0)


def session_record(tx: Tx, row: Row, session_key_enc: bytes | None = None) -> SessionRecord:
    revoked = row["revoked_at"]
    return SessionRecord(
        id=row["id"],
        user_id=row["user_id"],
        appid=row["appid"],
        openid=row["openid"],
        session_key_enc=session_key_enc,
        created_at=tx.time(row["created_at"]),
        last_used_at=tx.time(row["last_used_at"]),
        expires_at=tx.time(row["expires_at"]),
        revoked_at=None if revoked is None else tx.time(revoked),
    )


async def get_session(tx: Tx, session_id: str) -> SessionRecord | None:
    """The session, with its identity's current sealed session_key."""
    row = await tx.one(tx.sql.get_session, session_id)
    return None if row is None else session_record(tx, row, row["session_key_enc"])


async def rotate(tx: Tx, p: RotateParams) -> RotateResult:
    """Swap the session's refresh token for a new one, detecting reuse of an old one.

    The swap is a compare-and-set on the current hash, so of two concurrent rotations with
    the same token exactly one wins; the other then finds the token among the used ones. Within
    the grace window, while the winner's successor is still current, it gets that successor too
    (``REPLAYED``); otherwise it revokes the session (``REUSED``).
    """
    swapped = await tx.one(
        tx.sql.swap_refresh,
        p.new_hash,
        p.now,
        p.expires_at,
        p.session_id,
        p.presented_hash,
        p.now,
    )
    if swapped is not None:
        await tx.run(tx.sql.record_used_refresh, p.presented_hash, p.session_id, p.now)
        return RotateResult(RotateOutcome.ROTATED, session_record(tx, swapped))
    current = await tx.one(tx.sql.session_by_id, p.session_id)
    if current is None:
        return RotateResult(RotateOutcome.UNKNOWN, None)
    if current["revoked_at"] is not None:
        return RotateResult(RotateOutcome.REVOKED, session_record(tx, current))
    if tx.time(current["expires_at"]) <= p.now:
        return RotateResult(RotateOutcome.EXPIRED, session_record(tx, current))
    used = await tx.one(tx.sql.used_refresh, p.presented_hash, p.session_id)
    if used is None:
        return RotateResult(RotateOutcome.UNKNOWN, None)
    if (
        current["refresh_hash"] == p.new_hash
        and p.grace > timedelta(0)
        and tx.time(used["used_at"]) > p.now - p.grace
    ):
        return RotateResult(RotateOutcome.REPLAYED, session_record(tx, current))
    revoked = await tx.one(tx.sql.revoke_reused, p.now, REFRESH_REUSED, p.session_id)
    assert revoked is not None  # the row was there a statement ago, in this transaction
    return RotateResult(RotateOutcome.REUSED, session_record(tx, revoked))


async def revoke_session(tx: Tx, session_id: str, reason: str, now: datetime) -> bool:
    """True when this call revoked the session (False: unknown, or revoked already)."""
    return await tx.run(tx.sql.revoke_session, now, reason, session_id) == 1


async def revoke_user_sessions(tx: Tx, user_id: str, reason: str, now: datetime) -> list[str]:
    """Revoke every live session of the user (following merges); the ids revoked."""
    live = await live_row(tx, user_id)
    if live is None:
        return []
    rows = await tx.all(tx.sql.revoke_user_sessions, now, reason, live["id"])
    return sorted(row["id"] for row in rows)


async def revoked_since(tx: Tx, since: datetime) -> list[tuple[str, datetime]]:
    """Sessions revoked at or after ``since``, oldest first, as (id, revoked_at)."""
    return [
        (row["id"], tx.time(row["revoked_at"])) for row in await tx.all(tx.sql.revoked_since, since)
    ]


async def count_live(tx: Tx, now: datetime) -> int:
    """Sessions neither revoked nor expired at ``now``."""
    row = await tx.one(tx.sql.count_live_sessions, now)
    return int(row[0]) if row is not None else 0
