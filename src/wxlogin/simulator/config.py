"""``SimulatorConfig``: every lifetime and limit the simulator enforces, in one place.

Defaults follow shared/wechat-api.md. Where WeChat does not document a number (session_key
lifetime, rotation period, stable_token daily quota) the default is a guess, marked as such,
and a test or a team can set the value it wants to exercise.
"""

from __future__ import annotations

from dataclasses import dataclass

from wxlogin.pay import protocol as wxpay
from wxlogin.wechat import protocol as wx

__all__ = ["CALLBACK_RETRY_SCHEDULE", "SimulatorConfig"]

# WeChat Pay's delays between callback attempts after a failure, in seconds (about a day).
CALLBACK_RETRY_SCHEDULE: tuple[float, ...] = (
    15.0, 15.0, 30.0, 180.0, 600.0, 1200.0, 1800.0, 1800.0, 1800.0,
    3600.0, 10800.0, 10800.0, 10800.0, 21600.0, 21600.0,
)  # fmt: skip


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

    subscribe_send_msgid: bool = False
    """Whether a successful subscribe/send answers a ``msgid`` after ``errcode`` and ``errmsg``.

    Uncertain: older answers posted by developers carry one, recent ones say WeChat answers
    only ``{"errcode":0,"errmsg":"ok"}`` (the msgid comes later, in the sent event).
    """

    # ---------------------------------------------------------------- WeChat Pay

    pay_clock_skew: float = wxpay.MAX_CLOCK_SKEW
    """A signed request whose timestamp is further off the simulated clock is SIGN_ERROR."""

    pay_prepay_ttl: float = wxpay.PREPAY_ID_TTL
    """A prepay_id lives this long; creating the same order again afterwards renews it."""

    pay_order_ttl: float = 0.0
    """Unpaid orders without ``time_expire`` close this long after creation; 0: never.

    WeChat does not say what happens to such an order; set this to exercise expiry.
    """

    pay_refund_delay: float = 5.0
    """A refund answers PROCESSING and succeeds this long later (a guess: "seconds to minutes")."""

    pay_callback_timeout: float = 5.0
    """Real seconds a callback delivery may take before it counts as failed (WeChat: 5)."""

    pay_callback_schedule: tuple[float, ...] = CALLBACK_RETRY_SCHEDULE
    """Simulated seconds between delivery attempts after a failure; then WeChat gives up."""

    pay_callback_scale: float = 1.0
    """Multiplies ``pay_callback_schedule``: 0.01 retries after 0.15 s instead of 15 s."""

    pay_callback_verify_tls: bool = True
    """Verify an https notify_url's certificate (turn off for a self-signed local receiver)."""

    pay_check_openid: bool = True
    """Refuse an order whose payer.openid is not a user of its appid (WeChat checks this)."""

    pay_duplicate_order_code: str = "INVALID_REQUEST"
    """The code for the same out_trade_no with a different body. Uncertain: public answers
    show ``INVALID_REQUEST`` ("201 商户订单号重复"); the docs list ``OUT_TRADE_NO_USED``."""

    pay_orderpaid_status: int = wxpay.ERROR_STATUS["ORDERPAID"]
    """HTTP status of ORDERPAID (closing a paid order). Uncertain: 400 in public fixtures."""

    pay_not_enough_status: int = wxpay.ERROR_STATUS["NOT_ENOUGH"]
    """HTTP status of NOT_ENOUGH (a refund above what is left). Uncertain."""

    def __post_init__(self) -> None:
        for name in (
            "code_ttl",
            "phone_code_ttl",
            "session_key_lifetime",
            "access_token_ttl",
            "paid_unionid_window",
            "pay_clock_skew",
            "pay_prepay_ttl",
            "pay_callback_timeout",
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
            "pay_order_ttl",
            "pay_refund_delay",
            "pay_callback_scale",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if any(delay < 0 for delay in self.pay_callback_schedule):
            raise ValueError("pay_callback_schedule must not hold negative delays")
        if self.pay_duplicate_order_code not in wxpay.ERROR_STATUS:
            raise ValueError("pay_duplicate_order_code must be a WeChat Pay error code")
        for name in ("pay_orderpaid_status", "pay_not_enough_status"):
            if not 400 <= getattr(self, name) <= 599:
                raise ValueError(f"{name} must be an HTTP error status")
