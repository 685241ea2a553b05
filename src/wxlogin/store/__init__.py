"""Persistence: users, identities, sessions, refresh-token rotation (SQLAlchemy Core).

SQLite (WAL) by default, PostgreSQL via asyncpg in production; migrations with Alembic.
"""

from wxlogin.store.engine import create_engine
from wxlogin.store.records import (
    Identity,
    LoginResult,
    RotateOutcome,
    RotateResult,
    SessionRecord,
    User,
)
from wxlogin.store.repository import Store

__all__ = [
    "Identity",
    "LoginResult",
    "RotateOutcome",
    "RotateResult",
    "SessionRecord",
    "Store",
    "User",
    "create_engine",
]
