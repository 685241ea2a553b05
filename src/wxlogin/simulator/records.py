"""The records of the simulated WeChat world: apps, people and their membership of apps,
session keys, one-time codes, access tokens, payments; and ``Refused``, WeChat's errcode
refusal.

Plain data with a little behaviour of its own (a phone number's display form, a member's live
session). ``simulator/state.py`` (``World``) holds and changes them; they are apart from it so
that the world's rules read without a page of field lists first.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from wxlogin.simulator.errors import InvalidControlRequest

__all__ = [
    "AccessToken",
    "App",
    "LoginCode",
    "Member",
    "Payment",
    "Person",
    "PhoneCode",
    "PhoneNumber",
    "Refused",
    "SessionKey",
    "TokenKind",
]

TokenKind = Literal["token", "stable_token"]

_DIGITS_RE = re.compile(r"^[0-9]{5,15}$")
_CC_RE = re.compile(r"^[1-9][0-9]{0,3}$")


class Refused(Exception):
    """WeChat refuses the request with ``errcode``; becomes a normal HTTP 200 errcode answer."""

    def __init__(self, errcode: int) -> None:
        self.errcode = errcode
        super().__init__(errcode)


@dataclass(slots=True)
class PhoneNumber:
    """A phone number as getPhoneNumber reports it; ``country_code`` is a string, like WeChat's."""

    country_code: str
    pure: str

    @property
    def display(self) -> str:
        """``phoneNumber``: mainland numbers bare, others with ``+CC `` in front (a guess)."""
        return self.pure if self.country_code == "86" else f"+{self.country_code} {self.pure}"

    @classmethod
    def parse(cls, text: str) -> PhoneNumber:
        """``"13800138000"`` (mainland China) or ``"+CC NUMBER"`` (e.g. ``"+1 2025550123"``)."""
        text = text.strip()
        if text.startswith("+"):
            head, sep, rest = text[1:].replace("-", " ").partition(" ")
            if not sep and head.startswith("86"):
                head, rest = "86", head[2:]
            rest = rest.replace(" ", "")
            if _CC_RE.match(head) and _DIGITS_RE.match(rest):
                return cls(head, rest)
        elif _DIGITS_RE.match(text):
            return cls("86", text)
        raise InvalidControlRequest(
            "phone must be digits (mainland China, e.g. 13800138000) or '+CC NUMBER' "
            "(e.g. '+1 2025550123')"
        )


@dataclass(slots=True, eq=False)
class Person:
    """Someone with WeChat on their phone."""

    name: str
    default_phone: PhoneNumber
    high_risk: bool = False
    phone: PhoneNumber | None = None  # set by PATCH /__sim/users/{user}
    members: dict[str, Member] = field(default_factory=dict)  # appid -> member

    @property
    def current_phone(self) -> PhoneNumber:
        return self.phone if self.phone is not None else self.default_phone


@dataclass(slots=True, eq=False)
class SessionKey:
    value: str = field(repr=False)
    issued_at: float
    expires_at: float


@dataclass(slots=True, eq=False)
class Member:
    """A person inside one app: the app's openid for them and their current session_key."""

    app: App
    person: Person
    openid: str
    unionid: str | None
    session: SessionKey | None = None
    rate_window: int = -1  # the simulated minute the counter below belongs to
    rate_count: int = 0

    def valid_session(self, now: float) -> SessionKey | None:
        session = self.session
        return session if session is not None and now < session.expires_at else None


@dataclass(slots=True, eq=False)
class LoginCode:
    code: str = field(repr=False)
    member: Member
    expires_at: float
    used: bool = False


@dataclass(slots=True, eq=False)
class PhoneCode:
    code: str = field(repr=False)
    member: Member
    phone: PhoneNumber
    expires_at: float
    used: bool = False


@dataclass(slots=True, eq=False)
class AccessToken:
    value: str = field(repr=False)
    app: App
    kind: TokenKind
    issued_at: float
    expires_at: float
    valid_until: float  # earlier than expires_at once superseded or invalidated


@dataclass(slots=True, eq=False)
class Payment:
    member: Member
    transaction_id: str
    mch_id: str | None
    out_trade_no: str | None
    paid_at: float


@dataclass(slots=True, eq=False)
class App:
    """A registered mini program. ``secret`` is never shown: not in repr, state or logs."""

    appid: str
    secret: str = field(repr=False)
    open_account: str | None
    members: dict[str, Member] = field(default_factory=dict, repr=False)  # openid -> member
    codes_issued: int = 0
    codes_used: int = 0
    phone_codes_issued: int = 0
    phone_codes_used: int = 0
    token_fetches: int = 0
    stable_token_fetches: int = 0
    plain_token: AccessToken | None = field(default=None, repr=False)
    stable_token: AccessToken | None = field(default=None, repr=False)
    stable_refreshed_at: float | None = None
    quota_day: int = -1
    token_calls_today: int = 0
    stable_calls_today: int = 0
    force_refreshes_today: int = 0
    tokens: deque[AccessToken] = field(default_factory=deque, repr=False)  # mint order
    payments_by_transaction: dict[str, Payment] = field(default_factory=dict, repr=False)
    payments_by_trade_no: dict[tuple[str, str], Payment] = field(default_factory=dict, repr=False)
