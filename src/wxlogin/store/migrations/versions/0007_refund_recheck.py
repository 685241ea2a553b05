"""An index for the refund recheck: refunds by state and last news.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Every minute one process asks which refunds are still ``processing`` with no news for ten
minutes (``service/pay_news.py``, ``PayNews.recheck_refunds``). Without this index that is a
scan of every refund ever made; with it, a range of the few still processing. Written by hand
to match ``wxlogin/store/tables.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_refunds_state_updated_at", "refunds", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_refunds_state_updated_at", table_name="refunds")
