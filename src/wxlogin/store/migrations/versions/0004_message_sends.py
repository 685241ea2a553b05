"""Subscribe messages: one row per send, so an operator can see what went to whom.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

``message_sends`` records who (the user and the app), which template, when, and how it went:
sent, refused by WeChat (with its errcode), refused here before sending (a value WeChat would
refuse), or unknown (no usable answer came back: it may have been delivered). The names of the
keywords sent are kept, never their values: a message carries names, addresses, amounts and
phone numbers, and a log of who was told what would be a second copy of that personal data.

Written by hand to match ``wxlogin/store/tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the type at the time of this revision (see 0001).
_utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "message_sends",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("appid", sa.Text(), nullable=False),
        sa.Column("template_id", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("sent_at", _utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_sends"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_message_sends_user_id_users"),
    )
    op.create_index("ix_message_sends_user_id", "message_sends", ["user_id"])
    op.create_index("ix_message_sends_sent_at", "message_sends", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_message_sends_sent_at", table_name="message_sends")
    op.drop_index("ix_message_sends_user_id", table_name="message_sends")
    op.drop_table("message_sends")
