"""The simulated WeChat world: apps, people, codes, session keys, tokens, payments.

Pure domain, no HTTP. WeChat-side refusals raise ``Refused(errcode)``, which ``upstream``
turns into an errcode answer; mistakes in *driving* the simulator raise the control errors of
``simulator.errors``. Every operation a request triggers is O(1): lookups are dicts, and the
expiry sweeps pop from the front of time-ordered deques.

Vocabulary: a *person* is the human behind the phone, named by any string (``"alice"``); a
*member* is that person inside one app, with the app's openid and the app's session_key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections import deque
from typing import Any

from wxlogin.crypto import session_signature
from wxlogin.simulator.clock import SimClock
from wxlogin.simulator.config import SimulatorConfig
from wxlogin.simulator.errors import InvalidControlRequest, NoSession, UnknownApp
from wxlogin.simulator.records import (
    AccessToken,
    App,
    LoginCode,
    Member,
    Payment,
    Person,
    PhoneCode,
    PhoneNumber,
    Refused,
    SessionKey,
    TokenKind,
)
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import ErrCode

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
    "World",
]

# The shape of the tokens this simulator issues: "86_" + URL-safe characters. A token that
# does not look like one of ours is "malformed" (40014); one that does but is unknown, 40001.
ACCESS_TOKEN_RE = re.compile(r"^[0-9]{2}_[A-Za-z0-9_-]{100,500}$")
_APPID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DAY_OFFSET = 8 * 3600  # WeChat's daily quotas reset at midnight Beijing time (UTC+8)
_KEEP_EXPIRED_TOKENS = 86400.0  # so a late caller still hears "expired", not "invalid"


# --------------------------------------------------------------------------- the world


class World:
    """All simulated state, and the rules that change it."""

    def __init__(self, config: SimulatorConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.apps: dict[str, App] = {}
        self.people: dict[str, Person] = {}
        self.codes: dict[str, LoginCode] = {}
        self.phone_codes: dict[str, PhoneCode] = {}
        self.tokens: dict[str, AccessToken] = {}
        # Calls refused for their access_token, per errcode (40001, 42001, ...): what a fleet
        # sharing one token must keep at zero for 40001.
        self.token_refusals: dict[int, int] = {}
        # Codes in mint order; the clock never goes back, so this is also expiry order.
        self._code_expiry: deque[LoginCode] = deque()
        self._phone_code_expiry: deque[PhoneCode] = deque()
        self._salt = config.identity_salt.encode("utf-8")

    def __repr__(self) -> str:
        return f"World(apps={len(self.apps)}, people={len(self.people)})"

    # ------------------------------------------------------------------ identities

    def _derive(self, kind: str, scope: str, name: str) -> str:
        """A stable 28-char WeChat-shaped id ("o" + 27 base64url chars) for (scope, name)."""
        msg = f"{kind}\x00{scope}\x00{name}".encode()
        digest = hmac.new(self._salt, msg, hashlib.sha256).digest()
        return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]

    def _default_phone(self, name: str) -> PhoneNumber:
        digest = hmac.new(self._salt, b"phone\x00" + name.encode(), hashlib.sha256).digest()
        return PhoneNumber("86", "138" + f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}")

    # ------------------------------------------------------------------ apps and people

    def register_app(self, appid: str, secret: str, open_account: str | None) -> App:
        """Register (or re-register, replacing secret and open account) a mini program."""
        if not isinstance(appid, str) or not _APPID_RE.match(appid):
            raise InvalidControlRequest("appid must be 1-64 characters of [A-Za-z0-9_-]")
        if not isinstance(secret, str) or not secret:
            raise InvalidControlRequest("secret must be a non-empty string")
        if open_account is not None and (not isinstance(open_account, str) or not open_account):
            raise InvalidControlRequest("open_account must be null or a non-empty string")
        app = self.apps.get(appid)
        if app is None:
            app = self.apps[appid] = App(appid, secret, open_account)
        else:
            app.secret = secret
            if app.open_account != open_account:
                app.open_account = open_account
                for member in app.members.values():
                    member.unionid = self._unionid(open_account, member.person.name)
        return app

    def _unionid(self, open_account: str | None, name: str) -> str | None:
        return None if open_account is None else self._derive("unionid", open_account, name)

    def app(self, appid: str) -> App:
        app = self.apps.get(appid)
        if app is None:
            raise UnknownApp(appid)
        return app

    def person(self, name: str) -> Person:
        if not isinstance(name, str) or not name:
            raise InvalidControlRequest("user must be a non-empty string")
        person = self.people.get(name)
        if person is None:
            person = self.people[name] = Person(name, self._default_phone(name))
        return person

    def peek_person(self, name: str) -> Person:
        """The person named ``name``, without registering one who is not known yet."""
        person = self.people.get(name)
        return person if person is not None else Person(name, self._default_phone(name))

    def member(self, app: App, name: str) -> Member:
        person = self.person(name)
        member = person.members.get(app.appid)
        if member is None:
            openid = self._derive("openid", app.appid, name)
            unionid = self._unionid(app.open_account, name)
            member = person.members[app.appid] = Member(app, person, openid, unionid)
            app.members[openid] = member
        return member

    def set_user(
        self, name: str, *, high_risk: bool | None = None, phone: str | None = None
    ) -> Person:
        person = self.person(name)
        if high_risk is not None:
            person.high_risk = bool(high_risk)
        if phone is not None:
            person.phone = PhoneNumber.parse(phone)
        return person

    # ------------------------------------------------------------------ session keys

    def _new_session(self, member: Member, now: float, expires_at: float | None = None) -> None:
        key = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
        if expires_at is None:
            expires_at = now + self.config.session_key_lifetime
        member.session = SessionKey(key, now, expires_at)

    def _ensure_session(self, member: Member, now: float, *, rotate: bool) -> SessionKey:
        session = member.valid_session(now)
        if session is None or (
            rotate and now - session.issued_at >= self.config.session_key_min_rotation
        ):
            self._new_session(member, now)
        assert member.session is not None
        return member.session

    # ------------------------------------------------------------------ wx.login codes

    def login(self, appid: str, name: str) -> LoginCode:
        """Play ``wx.login``: mint a code, rotating the session_key if it is old enough."""
        app = self.app(appid)
        member = self.member(app, name)
        now = self.clock.now()
        self._ensure_session(member, now, rotate=True)
        self._sweep_codes(now)
        code = secrets.token_urlsafe(24)  # 32 chars of [A-Za-z0-9_-], like a real code
        record = LoginCode(code, member, now + self.config.code_ttl)
        self.codes[code] = record
        self._code_expiry.append(record)
        app.codes_issued += 1
        return record

    def _sweep_codes(self, now: float) -> None:
        # An expired code answers 40029 like an unknown one, so forgetting it changes nothing.
        expiry = self._code_expiry
        while expiry and expiry[0].expires_at <= now:
            del self.codes[expiry.popleft().code]

    def exchange_code(self, app: App, code: str) -> Member:
        """The rules of jscode2session once appid and secret are checked.

        Order: unknown/expired/other app's code (40029), per-user minute quota (45011), code
        already used (40163), high-risk user (40226). Only a success consumes the code.
        """
        now = self.clock.now()
        record = self.codes.get(code)
        if record is None or record.member.app is not app or now >= record.expires_at:
            raise Refused(ErrCode.INVALID_CODE)
        member = record.member
        window = int(now // 60)
        if member.rate_window != window:
            member.rate_window = window
            member.rate_count = 0
        member.rate_count += 1
        if member.rate_count > self.config.code2session_per_user_per_minute:
            raise Refused(ErrCode.MINUTE_QUOTA)
        if record.used:
            raise Refused(ErrCode.CODE_USED)
        if member.person.high_risk:
            raise Refused(ErrCode.CODE_BLOCKED)
        record.used = True
        app.codes_used += 1
        self._ensure_session(member, now, rotate=False)
        return member

    # ------------------------------------------------------------------ phone codes

    def phone_code(self, appid: str, name: str, phone: str | None = None) -> PhoneCode:
        """Play the getPhoneNumber button: a 64-hex, single-use code for the current phone."""
        app = self.app(appid)
        member = self.member(app, name)
        number = PhoneNumber.parse(phone) if phone is not None else member.person.current_phone
        now = self.clock.now()
        expiry = self._phone_code_expiry
        while expiry and expiry[0].expires_at <= now:
            del self.phone_codes[expiry.popleft().code]
        record = PhoneCode(secrets.token_hex(32), member, number, now + self.config.phone_code_ttl)
        self.phone_codes[record.code] = record
        expiry.append(record)
        app.phone_codes_issued += 1
        return record

    def redeem_phone_code(self, app: App, code: str) -> PhoneCode:
        """Unknown, expired or reused code: 40029; another app's code: 40013."""
        record = self.phone_codes.get(code)
        if record is None or self.clock.now() >= record.expires_at:
            raise Refused(ErrCode.INVALID_CODE)
        if record.member.app is not app:
            raise Refused(ErrCode.INVALID_APPID)
        if record.used:
            raise Refused(ErrCode.INVALID_CODE)
        record.used = True
        app.phone_codes_used += 1
        return record

    # ------------------------------------------------------------------ access tokens

    def _roll_day(self, app: App, now: float) -> None:
        day = int((now + _DAY_OFFSET) // 86400)
        if app.quota_day != day:
            app.quota_day = day
            app.token_calls_today = app.stable_calls_today = app.force_refreshes_today = 0

    def _mint_token(self, app: App, kind: TokenKind, now: float) -> AccessToken:
        tokens = app.tokens
        while tokens and tokens[0].expires_at + _KEEP_EXPIRED_TOKENS <= now:
            self.tokens.pop(tokens.popleft().value, None)
        ttl = self.config.access_token_ttl
        value = "86_" + secrets.token_urlsafe(114)
        token = AccessToken(value, app, kind, now, now + ttl, now + ttl)
        self.tokens[value] = token
        tokens.append(token)
        return token

    def plain_token(self, app: App) -> AccessToken:
        """/cgi-bin/token: always a new token; the previous one works ≤ the grace period."""
        now = self.clock.now()
        self._roll_day(app, now)
        if app.token_calls_today >= self.config.token_daily_quota:
            raise Refused(ErrCode.DAILY_QUOTA)
        app.token_calls_today += 1
        previous = app.plain_token
        if previous is not None:
            grace_end = now + self.config.superseded_token_grace
            previous.valid_until = min(previous.valid_until, grace_end)
        token = app.plain_token = self._mint_token(app, "token", now)
        app.token_fetches += 1
        return token

    def stable_token(self, app: App, *, force_refresh: bool) -> AccessToken:
        """/cgi-bin/stable_token, independent of /cgi-bin/token.

        Normal mode hands out the current token and rolls to a new one only inside the roll
        window (the old one lives out its life). ``force_refresh`` mints a new one and kills the
        old at once — at most ``force_refresh_daily_limit`` times a day, and not within
        ``force_refresh_min_interval`` of the previous refresh (then the current token comes
        back unchanged and nothing is counted).
        """
        now = self.clock.now()
        config = self.config
        self._roll_day(app, now)
        current = app.stable_token
        if current is not None and now >= min(current.valid_until, current.expires_at):
            current = None
        if force_refresh:
            if app.force_refreshes_today >= config.force_refresh_daily_limit:
                raise Refused(ErrCode.DAILY_QUOTA)
            recently = (
                app.stable_refreshed_at is not None
                and now - app.stable_refreshed_at < config.force_refresh_min_interval
            )
            if current is not None and recently:
                app.stable_token_fetches += 1
                return current
            app.force_refreshes_today += 1
            if current is not None:
                current.valid_until = now
        else:
            if app.stable_calls_today >= config.stable_token_daily_quota:
                raise Refused(ErrCode.DAILY_QUOTA)
            app.stable_calls_today += 1
            if current is not None and current.expires_at - now > config.stable_token_roll_window:
                app.stable_token_fetches += 1
                return current
        token = app.stable_token = self._mint_token(app, "stable_token", now)
        app.stable_refreshed_at = now
        app.stable_token_fetches += 1
        return token

    def app_for_token(self, value: str | None) -> App:
        """The app an access_token belongs to, or the errcode WeChat gives for it."""
        try:
            return self._app_for_token(value)
        except Refused as refusal:
            self.token_refusals[refusal.errcode] = self.token_refusals.get(refusal.errcode, 0) + 1
            raise

    def _app_for_token(self, value: str | None) -> App:
        if not value:
            raise Refused(ErrCode.ACCESS_TOKEN_MISSING)
        token = self.tokens.get(value)
        if token is None:
            if ACCESS_TOKEN_RE.match(value):
                raise Refused(ErrCode.INVALID_CREDENTIAL)
            raise Refused(ErrCode.INVALID_ACCESS_TOKEN)
        now = self.clock.now()
        if now >= token.expires_at:
            raise Refused(ErrCode.ACCESS_TOKEN_EXPIRED)
        if now >= token.valid_until:
            raise Refused(ErrCode.INVALID_CREDENTIAL)
        return token.app

    # ------------------------------------------------------------------ session key checks

    def _member_with_key(
        self, app: App, openid: str, *, missing: ErrCode
    ) -> tuple[Member, SessionKey]:
        if not wx.OPENID_RE.match(openid):
            raise Refused(ErrCode.INVALID_OPENID)
        member = app.members.get(openid)
        session = member.valid_session(self.clock.now()) if member is not None else None
        if member is None or session is None:
            raise Refused(missing)
        return member, session

    @staticmethod
    def _check_signature(session: SessionKey, signature: str) -> None:
        expected = session_signature(session.value).encode("ascii")
        if not hmac.compare_digest(expected, signature.encode("utf-8")):
            raise Refused(ErrCode.INVALID_SIGNATURE)

    def check_session(self, app: App, openid: str, signature: str) -> Member:
        # checksession does not tell "no key" from "wrong key": both are 87009.
        member, session = self._member_with_key(app, openid, missing=ErrCode.INVALID_SIGNATURE)
        self._check_signature(session, signature)
        return member

    def reset_session_key(self, app: App, openid: str, signature: str) -> Member:
        """A new key for the user that keeps the old key's expiry; the old key stops working."""
        member, session = self._member_with_key(app, openid, missing=ErrCode.SESSION_KEY_MISSING)
        self._check_signature(session, signature)
        self._new_session(member, self.clock.now(), expires_at=session.expires_at)
        return member

    # ------------------------------------------------------------------ open data

    def session_for_user_info(self, appid: str, name: str) -> tuple[Member, SessionKey]:
        """What wx.getUserInfo encrypts with: the person's current session_key in the app."""
        app = self.app(appid)
        person = self.person(name)
        member = person.members.get(app.appid)
        session = member.valid_session(self.clock.now()) if member is not None else None
        if member is None or session is None:
            raise NoSession(
                f"user {name!r} has no valid session_key in app {appid!r}: "
                "call wx.login first (POST /__sim/login)"
            )
        return member, session

    # ------------------------------------------------------------------ payments

    def add_payment(
        self,
        appid: str,
        name: str,
        *,
        transaction_id: str | None = None,
        mch_id: str | None = None,
        out_trade_no: str | None = None,
    ) -> Payment:
        """Record that ``name`` just paid in ``appid`` (getpaidunionid answers for 5 minutes)."""
        app = self.app(appid)
        if (mch_id is None) != (out_trade_no is None):
            raise InvalidControlRequest("give mch_id and out_trade_no together, or neither")
        for label, value in (
            ("transaction_id", transaction_id),
            ("mch_id", mch_id),
            ("out_trade_no", out_trade_no),
        ):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidControlRequest(f"{label} must be a non-empty string")
        member = self.member(app, name)
        if transaction_id is None:
            transaction_id = "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
        payment = Payment(member, transaction_id, mch_id, out_trade_no, self.clock.now())
        app.payments_by_transaction[transaction_id] = payment
        if mch_id is not None and out_trade_no is not None:
            app.payments_by_trade_no[(mch_id, out_trade_no)] = payment
        return payment

    def paid_unionid(
        self,
        app: App,
        openid: str,
        *,
        transaction_id: str | None,
        mch_id: str | None,
        out_trade_no: str | None,
    ) -> str:
        member = app.members.get(openid) if wx.OPENID_RE.match(openid) else None
        if member is None:
            raise Refused(ErrCode.INVALID_OPENID)
        if app.open_account is None or member.unionid is None:
            raise Refused(ErrCode.OPEN_ACCOUNT_MISSING)
        if transaction_id:
            payment = app.payments_by_transaction.get(transaction_id)
        elif mch_id and out_trade_no:
            payment = app.payments_by_trade_no.get((mch_id, out_trade_no))
        else:
            raise Refused(ErrCode.INVALID_ARGS)
        if (
            payment is None
            or payment.member is not member
            or self.clock.now() - payment.paid_at > self.config.paid_unionid_window
        ):
            raise Refused(ErrCode.INVALID_TRADE)
        return member.unionid

    # ------------------------------------------------------------------ inspection

    def snapshot(self) -> dict[str, Any]:
        """Counts and identities for ``GET /__sim/state``. Never secrets or session keys."""
        apps = [
            {
                "appid": app.appid,
                "open_account": app.open_account,
                "users": len(app.members),
                "codes": {"issued": app.codes_issued, "used": app.codes_used},
                "phone_codes": {"issued": app.phone_codes_issued, "used": app.phone_codes_used},
                "token_fetches": {
                    "token": app.token_fetches,
                    "stable_token": app.stable_token_fetches,
                },
            }
            for app in self.apps.values()
        ]
        users = [self.describe_person(person) for person in self.people.values()]
        return {
            "apps": apps,
            "users": users,
            "codes": {
                "issued": sum(a.codes_issued for a in self.apps.values()),
                "used": sum(a.codes_used for a in self.apps.values()),
                "outstanding": len(self.codes),
            },
            "phone_codes": {
                "issued": sum(a.phone_codes_issued for a in self.apps.values()),
                "used": sum(a.phone_codes_used for a in self.apps.values()),
            },
            "token_fetches": {
                "token": sum(a.token_fetches for a in self.apps.values()),
                "stable_token": sum(a.stable_token_fetches for a in self.apps.values()),
            },
            "access_token_refusals": {str(k): n for k, n in sorted(self.token_refusals.items())},
        }

    def describe_person(self, person: Person) -> dict[str, Any]:
        now = self.clock.now()
        phone = person.current_phone
        return {
            "user": person.name,
            "high_risk": person.high_risk,
            "phone": phone.display,
            "country_code": phone.country_code,
            "apps": {
                appid: {
                    "openid": member.openid,
                    "unionid": member.unionid,
                    "has_session_key": member.valid_session(now) is not None,
                }
                for appid, member in person.members.items()
            },
        }
