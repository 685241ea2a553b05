"""Typed, immutable results of the WeChat calls.

Secret fields (``session_key``) are excluded from ``repr`` so a result can be logged safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PhoneInfo", "Session", "SessionKeyReset"]


@dataclass(frozen=True, slots=True)
class Session:
    """The answer of code2Session. ``unionid`` only when the app has an Open Platform account."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


@dataclass(frozen=True, slots=True)
class SessionKeyReset:
    """resetUserSessionKey: the new session_key, which keeps the old one's expiry."""

    openid: str
    session_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PhoneInfo:
    """getPhoneNumber's ``phone_info``. ``country_code`` is a string, as WeChat sends it."""

    phone_number: str
    pure_phone_number: str
    country_code: str
    watermark_appid: str
    watermark_timestamp: int
