"""``SimulatorConfig``: every lifetime and limit the simulator enforces, in one place.

Defaults follow shared/wechat-api.md. Where WeChat does not document a number (session_key
lifetime, rotation period, stable_token daily quota) the default is a guess, marked as such,
and a test or a team can set the value it wants to exercise.
"""

from __future__ import annotations

from dataclasses import dataclass

from wxlogin.wechat import protocol as wx

__all__ = ["SimulatorConfig"]


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Tunable behaviour of a ``Simulator``. All durations are in (simulated) seconds."""

    code_ttl: float = wx.CODE_TTL
    """A wx.login code lives this long."""

    phone_code_ttl: float = wx.PHONE_CODE_TTL
    """A getPhoneNumber button code lives this long."""

    session_key_lifetime: float = 3 * 86400.0
    """How long a session_key stays valid. Undocumented by WeChat; 3 days is a guess."""

    session_key_min_rotation: float = 300.0
    """A new wx.login rotates the session_key only when the current one is at least this old.

    WeChat says a minimum period exists but not how long; 300 s is a guess.
    """

    code2session_per_user_per_minute: int = wx.CODE2SESSION_PER_USER_PER_MINUTE
    """More jscode2session calls than this for one user in one minute answer 45011."""

    access_token_ttl: int = wx.ACCESS_TOKEN_TTL
    """``expires_in`` of a freshly minted access_token."""

    superseded_token_grace: float = wx.SUPERSEDED_TOKEN_GRACE
    """After /cgi-bin/token mints a new token the previous one works at most this long."""

    stable_token_roll_window: float = wx.STABLE_TOKEN_ROLL_WINDOW
    """Normal-mode stable_token mints a new token once the current one has this little left."""

    token_daily_quota: int = wx.TOKEN_DAILY_QUOTA
    """Successful /cgi-bin/token calls per app per day before 45009."""

    stable_token_daily_quota: int = 500_000
    """Successful normal-mode stable_token calls per app per day (a guess; WeChat is vague)."""

    force_refresh_daily_limit: int = wx.STABLE_TOKEN_FORCE_REFRESH_DAILY
    """stable_token refreshes with ``force_refresh: true`` per app per day before 45009."""

    force_refresh_min_interval: float = wx.STABLE_TOKEN_FORCE_REFRESH_INTERVAL
    """A force_refresh this soon after the previous refresh returns the current token."""

    paid_unionid_window: float = wx.PAID_UNIONID_WINDOW
    """getpaidunionid answers for a payment this long after it was made."""

    latency_ms: float = 0.0
    """Added to every answer of a WeChat endpoint (not the control API): a realistic RTT."""

    identity_salt: str = "wxlogin-simulator"
    """Mixed into openid/unionid derivation. Same salt and user name, same ids, every run."""

    def __post_init__(self) -> None:
        for name in (
            "code_ttl",
            "phone_code_ttl",
            "session_key_lifetime",
            "access_token_ttl",
            "paid_unionid_window",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in (
            "session_key_min_rotation",
            "superseded_token_grace",
            "stable_token_roll_window",
            "force_refresh_min_interval",
            "latency_ms",
            "code2session_per_user_per_minute",
            "token_daily_quota",
            "stable_token_daily_quota",
            "force_refresh_daily_limit",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
