"""What the store hands back: small frozen records, never live rows or ORM objects."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "Identity",
    "LoginResult",
    "MessageSend",
    "NewOrder",
    "Order",
    "OrderState",
    "PayEventOutcome",
    "Refund",
    "RefundState",
    "RotateOutcome",
    "RotateResult",
    "SendOutcome",
    "SessionRecord",
    "User",
    "new_id",
]


def new_id(nbytes: int) -> str:
    """A random URL-safe id of ``nbytes`` random bytes that never begins with ``-``.

    A leading ``-`` reads as an option on a command line (``wxlogin users show -x…`` refused
    it); base64url draws it as the first character one time in 64, so those draws are
    thrown away. What is left is still uniform over the remaining ids.
    """
    while True:
        token = secrets.token_urlsafe(nbytes)
        if not token.startswith("-"):
            return token


@dataclass(frozen=True, slots=True)
class Identity:
    """One (mini program, openid) pair belonging to a user."""

    appid: str
    openid: str


@dataclass(frozen=True, slots=True)
class User:
    id: str
    unionid: str | None
    identities: tuple[Identity, ...]
    phone: str | None
    pure_phone: str | None
    phone_country_code: str | None
    nickname: str | None
    avatar_url: str | None
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    user_id: str
    appid: str
    openid: str
    # The sealed session_key of this session's identity (appid, openid): WeChat keeps one
    # per app and user, so a later login on another device replaces it for every session.
    # Loaded by ``Store.get_session``; None in the results of other calls. Ciphertext made by
    # the service, still kept out of reprs and logs.
    session_key_enc: bytes | None = field(repr=False)
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    new_user: bool


class RotateOutcome(enum.Enum):
    """What ``Store.rotate_refresh`` did with a presented refresh token."""

    ROTATED = "rotated"  # the current token: swapped for the new one
    # A token rotated a moment ago (within the grace window), presented again while its
    # successor is still the current one: nothing changes, the same successor is valid.
    REPLAYED = "replayed"
    REUSED = "reused"  # an earlier token of this session: the session is now revoked
    REVOKED = "revoked"  # the session was already revoked
    EXPIRED = "expired"  # the session has expired
    UNKNOWN = "unknown"  # no such session, or a token it never had


@dataclass(frozen=True, slots=True)
class RotateResult:
    outcome: RotateOutcome
    session: SessionRecord | None


# --------------------------------------------------------------------------- messages


class SendOutcome(enum.Enum):
    """How one subscribe-message send went (``message_sends.outcome``)."""

    SENT = "sent"  # WeChat took it: delivered, one accept spent
    REFUSED = "refused"  # WeChat refused it (``errcode`` says why); nothing delivered
    INVALID = "invalid"  # refused here before sending: WeChat would have refused it too
    UNKNOWN = "unknown"  # no usable answer came back: it may or may not have been delivered
    UNSENT = "unsent"  # WeChat could not be reached: it never left


@dataclass(frozen=True, slots=True)
class MessageSend:
    """One send, as recorded: who, which template, which keywords, how it went. Never the
    values of the keywords (they may be personal data)."""

    id: str
    user_id: str
    appid: str
    template_id: str
    keywords: tuple[str, ...]
    outcome: SendOutcome
    errcode: int | None  # WeChat's errcode, when WeChat refused
    error_code: str | None  # our stable error code, whenever it did not go out
    field: str | None  # the keyword at fault, when one was named
    sent_at: datetime


# --------------------------------------------------------------------------- orders


class OrderState(enum.Enum):
    """Where an order stands (``orders.state``).

    ``created`` → ``paid`` (WeChat Pay says so: a verified callback or a query) or ``closed``
    (by us: at expiry, or by an operator). A paid order moves to ``partially_refunded`` and
    ``refunded`` as refunds are requested; a refund that WeChat Pay later fails gives its
    amount back (and the state follows).
    """

    CREATED = "created"
    PAID = "paid"
    CLOSED = "closed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class RefundState(enum.Enum):
    PROCESSING = "processing"
    SUCCESS = "success"
    CLOSED = "closed"  # WeChat Pay gave up on it: the money never left
    ABNORMAL = "abnormal"  # stuck: a merchant must act in the merchant platform


@dataclass(frozen=True, slots=True)
class Order:
    """An order a user pays with WeChat Pay. Amounts are in fen (分), currency CNY."""

    id: str
    user_id: str
    appid: str
    mchid: str
    out_trade_no: str
    description: str
    attach: str | None
    amount: int
    currency: str
    state: OrderState
    refunded_amount: int
    prepay_id: str | None = field(repr=False)
    prepay_expires_at: datetime | None
    transaction_id: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None

    @property
    def refundable(self) -> int:
        """Fen that may still be refunded."""
        if self.state not in (OrderState.PAID, OrderState.PARTIALLY_REFUNDED):
            return 0
        return self.amount - self.refunded_amount


@dataclass(frozen=True, slots=True)
class NewOrder:
    id: str
    user_id: str
    appid: str
    mchid: str
    out_trade_no: str
    description: str
    attach: str | None
    amount: int
    currency: str
    expires_at: datetime
    now: datetime


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    order_id: str
    out_refund_no: str
    amount: int
    reason: str | None
    state: RefundState
    refund_id: str | None  # WeChat Pay's, once it accepted the refund
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None


class PayEventOutcome(enum.Enum):
    """What became of one WeChat Pay callback (``pay_events.outcome``)."""

    APPLIED = "applied"  # it changed the order or refund
    NO_CHANGE = "no_change"  # authentic, but the order was already past it (late, out of order)
    DUPLICATE = "duplicate"  # the same notification id again
    MISMATCH = "mismatch"  # authentic, but amount, appid or mchid differ from our order
    UNKNOWN = "unknown"  # no such order or refund here
