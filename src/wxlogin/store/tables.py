"""The schema, as SQLAlchemy Core tables on one ``MetaData``.

``migrations/versions`` must build exactly this (``tests/store/test_migrations.py`` compares
them on each backend). Timestamps are ``UTCDateTime``: aware UTC datetimes in and out, on
PostgreSQL (``timestamptz``) and on SQLite (stored as naive UTC text, which also sorts
chronologically).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    TypeDecorator,
)

__all__ = [
    "UTCDateTime",
    "identities",
    "message_sends",
    "metadata",
    "orders",
    "pay_events",
    "refunds",
    "sessions",
    "signing_keys",
    "used_refresh_tokens",
    "users",
]

# Deterministic constraint names, so migrations can refer to them on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite has no time zones: keep UTC wall time, so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


users = Table(
    "users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("unionid", Text, nullable=True, unique=True),
    Column("phone", Text, nullable=True),
    Column("pure_phone", Text, nullable=True),
    Column("phone_country_code", Text, nullable=True),
    Column("nickname", Text, nullable=True),
    Column("avatar_url", Text, nullable=True),
    # Set on the loser of a merge; the row stays as a tombstone so old `sub`s still resolve.
    Column("merged_into", Text, ForeignKey("users.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
)

identities = Table(
    "identities",
    metadata,
    Column("appid", Text, nullable=False),
    Column("openid", Text, nullable=False),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False, index=True),
    Column("unionid", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=True),
    # WeChat keeps one session_key per app and user, replaced by each login: so do we. Sealed
    # by the service (AES-GCM), never stored in clear.
    Column("session_key_enc", LargeBinary, nullable=True),
    PrimaryKeyConstraint("appid", "openid"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False, index=True),
    Column("appid", Text, nullable=False),
    Column("openid", Text, nullable=False),
    Column("refresh_hash", LargeBinary, nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_reason", Text, nullable=True),
    Index(None, "revoked_at"),
    Index(None, "expires_at"),  # the pruner's (migration 0006)
)

# Refresh tokens a session has already used, so presenting one again reveals a stolen copy.
used_refresh_tokens = Table(
    "used_refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    # Indexed for the pruner (migration 0006), which deletes by both.
    Column("session_id", Text, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("used_at", UTCDateTime, nullable=False, index=True),
)

# The keys that sign access tokens (migration 0006), shared by every process through the
# database. The private key is sealed by the service (AES-GCM); see service/keyring.py.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("private_key_sealed", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("activates_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True),
)

# One row per subscribe-message send (migration 0004): who, which template, how it went. The
# names of the keywords sent, never their values (personal data; see the migration).
message_sends = Table(
    "message_sends",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False, index=True),
    Column("appid", Text, nullable=False),
    Column("template_id", Text, nullable=False),
    Column("keywords", Text, nullable=False),  # "thing1,time2"
    Column("outcome", Text, nullable=False),  # records.SendOutcome
    Column("errcode", Integer, nullable=True),  # WeChat's, when it refused
    Column("error_code", Text, nullable=True),  # our stable code of the failure
    Column("field", Text, nullable=True),  # the keyword at fault, when one was named
    Column("sent_at", UTCDateTime, nullable=False),
    Index(None, "sent_at"),
)

# WeChat Pay (migration 0005). Amounts in fen; ``state`` is records.OrderState, refunds'
# records.RefundState. ``refunded_amount`` counts refunds requested and not failed, so that
# two refunds at once can never add up to more than the order (see store/orders.py).
orders = Table(
    "orders",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False, index=True),
    Column("appid", Text, nullable=False),
    Column("mchid", Text, nullable=False),
    Column("out_trade_no", Text, nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("attach", Text, nullable=True),
    Column("amount", Integer, nullable=False),
    Column("currency", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("refunded_amount", Integer, nullable=False),
    Column("prepay_id", Text, nullable=True),
    Column("prepay_expires_at", UTCDateTime, nullable=True),
    Column("transaction_id", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Index("ix_orders_state_expires_at", "state", "expires_at"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Text, primary_key=True),
    Column("order_id", Text, ForeignKey("orders.id"), nullable=False, index=True),
    Column("out_refund_no", Text, nullable=False, unique=True),
    Column("amount", Integer, nullable=False),
    Column("reason", Text, nullable=True),
    Column("state", Text, nullable=False),
    Column("refund_id", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("succeeded_at", UTCDateTime, nullable=True),
    # The refund recheck's (migration 0007): processing refunds, the longest silent first.
    Index("ix_refunds_state_updated_at", "state", "updated_at"),
)

# One row per WeChat Pay callback received (its notification id): duplicates are recognised,
# and an operator can see what arrived and what became of it (records.PayEventOutcome).
pay_events = Table(
    "pay_events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("reference", Text, nullable=False),  # out_trade_no or out_refund_no
    Column("outcome", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index(None, "received_at"),
)
