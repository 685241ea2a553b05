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
