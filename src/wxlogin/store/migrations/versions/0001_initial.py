"""Initial schema: users, identities, sessions, used_refresh_tokens.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand to match ``wxlogin/store/tables.py`` (``tests/store/test_migrations.py``
compares the two on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the type at the time of this revision: later changes to tables.py must not
# change what an old migration creates.
_utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("unionid", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("pure_phone", sa.Text(), nullable=True),
        sa.Column("phone_country_code", sa.Text(), nullable=True),
        sa.Column("nickname", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("merged_into", sa.Text(), nullable=True),
        sa.Column("created_at", _utc, nullable=False),
        sa.Column("updated_at", _utc, nullable=False),
        sa.Column("last_login_at", _utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("unionid", name="uq_users_unionid"),
        sa.ForeignKeyConstraint(["merged_into"], ["users.id"], name="fk_users_merged_into_users"),
    )
    op.create_table(
        "identities",
        sa.Column("appid", sa.Text(), nullable=False),
        sa.Column("openid", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("unionid", sa.Text(), nullable=True),
        sa.Column("created_at", _utc, nullable=False),
        sa.Column("last_login_at", _utc, nullable=True),
        sa.Column("session_key_enc", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("appid", "openid", name="pk_identities"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_identities_user_id_users"),
    )
    op.create_index("ix_identities_user_id", "identities", ["user_id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("appid", sa.Text(), nullable=False),
        sa.Column("openid", sa.Text(), nullable=False),
        sa.Column("refresh_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _utc, nullable=False),
        sa.Column("last_used_at", _utc, nullable=False),
        sa.Column("expires_at", _utc, nullable=False),
        sa.Column("revoked_at", _utc, nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("refresh_hash", name="uq_sessions_refresh_hash"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_revoked_at", "sessions", ["revoked_at"])
    op.create_table(
        "used_refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("used_at", _utc, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_used_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_used_refresh_tokens_session_id_sessions"
        ),
    )


def downgrade() -> None:
    op.drop_table("used_refresh_tokens")
    op.drop_index("ix_sessions_revoked_at", table_name="sessions")
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_index("ix_identities_user_id", table_name="identities")
    op.drop_table("identities")
    op.drop_table("users")
