"""Persistence: users, identities, sessions, refresh-token rotation, message sends.

SQLite (WAL, one writer thread with group commit) by default; PostgreSQL (asyncpg, batch
functions) for many processes. Runtime SQL on the bare drivers; the schema is migrated with
Alembic. ``Store`` is the whole public surface.
"""

from wxlogin.store.records import (
    Identity,
    LoginResult,
    MessageSend,
    RotateOutcome,
    RotateResult,
    SendOutcome,
    SessionRecord,
    User,
)
from wxlogin.store.repository import Store
from wxlogin.store.tx import StoreStats

__all__ = [
    "Identity",
    "LoginResult",
    "MessageSend",
    "RotateOutcome",
    "RotateResult",
    "SendOutcome",
    "SessionRecord",
    "Store",
    "StoreStats",
    "User",
]
