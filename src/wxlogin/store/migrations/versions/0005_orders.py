"""WeChat Pay: orders, their refunds, and the callbacks received.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

``orders`` holds what a user pays for (amount in fen, never from the mini program), its state
(created, paid, closed, partially_refunded, refunded) and WeChat Pay's numbers for it;
``refunds`` one row per refund asked of WeChat Pay; ``pay_events`` one row per callback, keyed
by WeChat Pay's notification id, so a duplicate is recognised and an operator can see what
arrived. Written by hand to match ``wxlogin/store/tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the type at the time of this revision (see 0001).
_utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("appid", sa.Text(), nullable=False),
        sa.Column("mchid", sa.Text(), nullable=False),
        sa.Column("out_trade_no", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("attach", sa.Text(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("prepay_id", sa.Text(), nullable=True),
        sa.Column("prepay_expires_at", _utc, nullable=True),
        sa.Column("transaction_id", sa.Text(), nullable=True),
        sa.Column("created_at", _utc, nullable=False),
        sa.Column("updated_at", _utc, nullable=False),
        sa.Column("expires_at", _utc, nullable=False),
        sa.Column("paid_at", _utc, nullable=True),
        sa.Column("closed_at", _utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_orders_user_id_users"),
        sa.UniqueConstraint("out_trade_no", name="uq_orders_out_trade_no"),
    )
    op.create_index("ix_orders_user_id", "orders", ["user_id"])
    op.create_index("ix_orders_state_expires_at", "orders", ["state", "expires_at"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("out_refund_no", sa.Text(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("refund_id", sa.Text(), nullable=True),
        sa.Column("created_at", _utc, nullable=False),
        sa.Column("updated_at", _utc, nullable=False),
        sa.Column("succeeded_at", _utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_refunds_order_id_orders"),
        sa.UniqueConstraint("out_refund_no", name="uq_refunds_out_refund_no"),
    )
    op.create_index("ix_refunds_order_id", "refunds", ["order_id"])
    op.create_table(
        "pay_events",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("received_at", _utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pay_events"),
    )
    op.create_index("ix_pay_events_received_at", "pay_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_pay_events_received_at", table_name="pay_events")
    op.drop_table("pay_events")
    op.drop_index("ix_refunds_order_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_orders_state_expires_at", table_name="orders")
    op.drop_index("ix_orders_user_id", table_name="orders")
    op.drop_table("orders")
