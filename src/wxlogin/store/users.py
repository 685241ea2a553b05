"""Users: reading them (following merges), listing them, changing phone and profile.

Each function is one unit of work over a ``Tx`` (see ``tx.py``); the backend decides which
transaction it runs in. A merged-away user stays as a tombstone (``merged_into``), so every
lookup by id follows at most ``MAX_MERGE_HOPS`` pointers to the live user.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from wxlogin.errors import UserNotFound, WxLoginError
from wxlogin.store.records import Identity, User
from wxlogin.store.sql import USER_COLUMNS
from wxlogin.store.tx import Conflict, Row, Tx

__all__ = [
    "MAX_MERGE_HOPS",
    "identities_of",
    "list_users",
    "live_row",
    "load_user",
    "update_user",
    "user_record",
]

# Longest merged_into chain followed (merges flatten chains, so 1 is the norm).
MAX_MERGE_HOPS: Final = 16
# The columns ``update_user`` may set.
_UPDATABLE: Final = frozenset(
    {"phone", "pure_phone", "phone_country_code", "nickname", "avatar_url"}
)


def user_record(tx: Tx, row: Row, identities: Sequence[Identity]) -> User:
    last_login = row["last_login_at"]
    return User(
        id=row["id"],
        unionid=row["unionid"],
        identities=tuple(identities),
        phone=row["phone"],
        pure_phone=row["pure_phone"],
        phone_country_code=row["phone_country_code"],
        nickname=row["nickname"],
        avatar_url=row["avatar_url"],
        created_at=tx.time(row["created_at"]),
        last_login_at=None if last_login is None else tx.time(last_login),
    )


async def identities_of(tx: Tx, user_id: str) -> list[Identity]:
    return [Identity(row[0], row[1]) for row in await tx.all(tx.sql.identities_of, user_id)]


async def load_user(tx: Tx, user_id: str) -> User | None:
    """The live user ``user_id`` resolves to, identities included (one query per hop)."""
    for _ in range(MAX_MERGE_HOPS):
        rows = await tx.all(tx.sql.load_user, user_id)
        if not rows:
            return None
        first = rows[0]
        if first["merged_into"] is None:
            idents = [Identity(r["appid"], r["openid"]) for r in rows if r["appid"] is not None]
            return user_record(tx, first, idents)
        user_id = first["merged_into"]
    raise WxLoginError("users.merged_into forms a chain that is too long or a cycle")


async def live_row(tx: Tx, user_id: str) -> Row | None:
    """The row of the live user ``user_id`` resolves to (following merges)."""
    for _ in range(MAX_MERGE_HOPS):
        row = await tx.one(tx.sql.user_by_id, user_id)
        if row is None or row["merged_into"] is None:
            return row
        user_id = row["merged_into"]
    raise WxLoginError("users.merged_into forms a chain that is too long or a cycle")


async def list_users(tx: Tx, *, limit: int, offset: int, as_array: bool) -> list[User]:
    """Live users, newest first: two queries whatever the page size.

    ``as_array``: the backend binds the id list as an array (PostgreSQL) rather than as a JSON
    text (SQLite's ``json_each``).
    """
    rows = await tx.all(tx.sql.list_users, limit, offset)
    if not rows:
        return []
    by_user: dict[str, list[Identity]] = {row["id"]: [] for row in rows}
    ids: Any = list(by_user) if as_array else json.dumps(list(by_user))
    for ident in await tx.all(tx.sql.identities_of_users, ids):
        by_user[ident["user_id"]].append(Identity(ident["appid"], ident["openid"]))
    return [user_record(tx, row, by_user[row["id"]]) for row in rows]


async def update_user(tx: Tx, user_id: str, values: dict[str, str], now: datetime) -> User:
    """Set profile columns of the live user ``user_id``; ``UserNotFound`` for an unknown user."""
    live = await live_row(tx, user_id)
    if live is None:
        raise UserNotFound()
    if values:
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a profile column: {sorted(unknown)}")
        names = sorted(values)
        # Column names come from the fixed set above, never from the caller's data.
        assignments = ", ".join(f"{name} = ?" for name in names)
        statement = tx.sql.adapt(
            f"UPDATE users SET {assignments}, updated_at = ? "  # noqa: S608 - names from _UPDATABLE
            f"WHERE id = ? AND merged_into IS NULL RETURNING {USER_COLUMNS}"
        )
        row = await tx.one(statement, *(values[name] for name in names), now, live["id"])
        if row is None:
            raise Conflict  # merged away since we looked
        live = row
    return user_record(tx, live, await identities_of(tx, live["id"]))
