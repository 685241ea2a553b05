"""Signing keys in the database, and the indexes that let old rows be pruned.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

``signing_keys`` holds the Ed25519 keys that sign access tokens, so that every process on
every machine signs and verifies with the same set and a rotation reaches all of them without
a shared disk. The private half is sealed (AES-256-GCM under a key derived from the
session_key encryption key, the kid as associated data); the public half is derived from it.
``activates_at`` is when a key starts signing (a rotation publishes the new key first);
``retired_at`` when a newer key took over.

The indexes serve the pruner (``wxlogin db prune`` and the background task): sessions by when
they expire, spent refresh tokens by when they were spent and by their session — the last
one also spares PostgreSQL a scan of ``used_refresh_tokens`` per session it deletes (the
foreign key's check). Written by hand to match ``wxlogin/store/tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the type at the time of this revision (see 0001).
_utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _utc, nullable=False),
        sa.Column("activates_at", _utc, nullable=False),
        sa.Column("retired_at", _utc, nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_index("ix_used_refresh_tokens_session_id", "used_refresh_tokens", ["session_id"])
    op.create_index("ix_used_refresh_tokens_used_at", "used_refresh_tokens", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_used_refresh_tokens_used_at", table_name="used_refresh_tokens")
    op.drop_index("ix_used_refresh_tokens_session_id", table_name="used_refresh_tokens")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_table("signing_keys")
