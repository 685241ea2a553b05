"""``Simulator``: one simulated WeChat, its ASGI app, and the Python control API.

The HTTP control routes (``/__sim/*``) and the pytest fixture both call these methods, so
what a test does in Python and what a team in another language does over HTTP are the same
operations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import orjson

from wxlogin.crypto import encrypt_data, raw_data_signature
from wxlogin.pay import protocol as wxpay
from wxlogin.simulator.app import Receive, Scope, Send, SimulatorApp
from wxlogin.simulator.clock import SimClock
from wxlogin.simulator.config import SimulatorConfig
from wxlogin.simulator.faults import FaultBook, make_fault
from wxlogin.simulator.pay_api import PayApi
from wxlogin.simulator.pay_callbacks import AsgiApp, CallbackDispatcher
from wxlogin.simulator.pay_control import MerchantKit, PayControl, PayResult, RegisteredMerchant
from wxlogin.simulator.state import World
from wxlogin.simulator.subscribe import SubscriptionBook
from wxlogin.wechat import protocol as wx

if TYPE_CHECKING:
    from wxlogin.wechat.transport import AsgiTransport

__all__ = [
    "MerchantKit",
    "PayResult",
    "PaymentRecord",
    "RegisteredApp",
    "RegisteredMerchant",
    "Simulator",
    "UserInfo",
]


@dataclass(frozen=True, slots=True)
class RegisteredApp:
    """A simulated mini program. The secret is there to configure your client, never shown."""

    appid: str
    secret: str = field(repr=False)
    open_account: str | None = None


class UserInfo(TypedDict):
    """What ``wx.getUserInfo`` hands the mini program."""

    rawData: str
    signature: str
    encryptedData: str
    iv: str
    userInfo: dict[str, Any]


class PaymentRecord(TypedDict):
    openid: str
    transaction_id: str
    mch_id: str | None
    out_trade_no: str | None
    paid_at: int


class Simulator:
    """A fake api.weixin.qq.com with real semantics.

    ``app`` is the ASGI application (serve it with uvicorn, or call it in-process through
    ``transport``). ``clock`` is the simulated clock: pass it to the code under test too.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: SimClock | None = None,
        base_url: str = wx.DEFAULT_BASE_URL,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config if config is not None else SimulatorConfig()
        # Real waiting (latency, delay faults) goes through here, so tests can record it.
        self.sleep = sleep
        self.clock = clock if clock is not None else SimClock()
        self.base_url = base_url
        self.pay_base_url = wxpay.DEFAULT_BASE_URL
        self.world = World(self.config, self.clock)
        self.subscriptions = SubscriptionBook(self.world)
        self.faults = FaultBook()
        self.callbacks = CallbackDispatcher(self.config, self.clock)
        self.pay = PayControl(self.world, self.callbacks, self.config, self.clock)
        self.pay_api = PayApi(self.pay.world, self.world, self.callbacks, self.faults, sleep)
        self.app = SimulatorApp(self)
        self._transport: AsgiTransport | None = None

    def __repr__(self) -> str:
        return f"Simulator(apps={sorted(self.world.apps)!r}, base_url={self.base_url!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A ``Simulator`` is itself an ASGI app (``uvicorn --factory ...:create_app``)."""
        await self.app(scope, receive, send)

    @property
    def transport(self) -> AsgiTransport:
        """A wxlogin ``Transport`` into ``app``, in this process, without a socket."""
        if self._transport is None:
            from wxlogin.wechat.transport import AsgiTransport

            self._transport = AsgiTransport(self.app)
        return self._transport

    # ------------------------------------------------------------------ apps and people

    def register_app(
        self, appid: str, secret: str, open_account: str | None = None
    ) -> RegisteredApp:
        """Register a mini program; apps sharing ``open_account`` share unionids."""
        app = self.world.register_app(appid, secret, open_account)
        return RegisteredApp(app.appid, app.secret, app.open_account)

    def set_user(
        self, user: str, *, high_risk: bool | None = None, phone: str | None = None
    ) -> dict[str, Any]:
        """Flag a person high-risk (jscode2session answers 40226) or change their phone."""
        return self.world.describe_person(
            self.world.set_user(user, high_risk=high_risk, phone=phone)
        )

    def describe_user(self, user: str) -> dict[str, Any]:
        """The person's phone, flags, openid/unionid in every app they used, the subscribe
        messages they may still be sent and the ones delivered."""
        person = self.world.describe_person(self.world.peek_person(user))
        return {**person, **self.subscriptions.describe(user)}

    def openid(self, appid: str, user: str) -> str:
        """The openid ``appid`` sees for ``user`` (stable across runs)."""
        return self.world.member(self.world.app(appid), user).openid

    def unionid(self, appid: str, user: str) -> str | None:
        """The user's unionid, or None when the app has no open account."""
        return self.world.member(self.world.app(appid), user).unionid

    def session_key(self, appid: str, user: str) -> str | None:
        """The user's current session_key in ``appid`` (for assertions in tests)."""
        member = self.world.member(self.world.app(appid), user)
        session = member.valid_session(self.clock.now())
        return session.value if session is not None else None

    # ------------------------------------------------------------------ the phone's side

    def login(self, appid: str, user: str) -> str:
        """Play ``wx.login`` for ``user``: a fresh code (and maybe a rotated session_key)."""
        return self.world.login(appid, user).code

    def phone_code(self, appid: str, user: str, phone: str | None = None) -> str:
        """Play the getPhoneNumber button: a code for ``phone`` or the user's current number."""
        return self.world.phone_code(appid, user, phone).code

    def user_info(
        self,
        appid: str,
        user: str,
        *,
        nickname: str | None = None,
        avatar_url: str | None = None,
    ) -> UserInfo:
        """Play ``wx.getUserInfo``: rawData signed and data encrypted with the current key.

        Without ``nickname``/``avatar_url`` the profile is the anonymous one WeChat has
        returned since 2021.
        """
        member, session = self.world.session_for_user_info(appid, user)
        profile: dict[str, Any] = {
            "nickName": nickname if nickname is not None else wx.ANONYMOUS_NICKNAME,
            "gender": 0,
            "language": "",
            "city": "",
            "province": "",
            "country": "",
            "avatarUrl": avatar_url if avatar_url is not None else wx.ANONYMOUS_AVATAR,
        }
        raw_data = orjson.dumps(profile).decode("utf-8")  # compact, like JSON.stringify
        plaintext: dict[str, Any] = {"openId": member.openid, **profile}
        if member.unionid is not None:
            plaintext["unionId"] = member.unionid
        encrypted, iv = encrypt_data(
            session.value, plaintext, appid=appid, timestamp=int(self.clock.now())
        )
        return {
            "rawData": raw_data,
            "signature": raw_data_signature(raw_data, session.value),
            "encryptedData": encrypted,
            "iv": iv,
            "userInfo": profile,
        }

    def add_payment(
        self,
        appid: str,
        user: str,
        *,
        transaction_id: str | None = None,
        mch_id: str | None = None,
        out_trade_no: str | None = None,
    ) -> PaymentRecord:
        """Record a WeChat Pay payment by ``user`` now (a transaction_id is made up if absent)."""
        payment = self.world.add_payment(
            appid, user, transaction_id=transaction_id, mch_id=mch_id, out_trade_no=out_trade_no
        )
        return {
            "openid": payment.member.openid,
            "transaction_id": payment.transaction_id,
            "mch_id": payment.mch_id,
            "out_trade_no": payment.out_trade_no,
            "paid_at": int(payment.paid_at),
        }

    # ------------------------------------------------------------------ faults and time

    def add_fault(
        self,
        path: str,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay_ms: float | None = None,
        body: str | bytes | None = None,
        drop: bool = False,
        times: int = 1,
        code: str | None = None,
    ) -> None:
        """Make the next ``times`` calls to the WeChat ``path`` misbehave (see ``faults``).

        WeChat Pay paths are named by template (``/v3/pay/transactions/out-trade-no/
        {out_trade_no}``) and take ``code="SYSTEM_ERROR"`` where WeChat paths take errcode.
        """
        self.faults.add(
            make_fault(
                path,
                errcode=errcode,
                http_status=http_status,
                delay_ms=delay_ms,
                body=body,
                drop=drop,
                times=times,
                code=code,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    def advance(self, seconds: float) -> float:
        """Move the simulated clock forward; returns the new simulated time.

        Callbacks that became due are delivered by the background task when served, or by the
        next ``await deliver_callbacks()`` in-process.
        """
        now = self.clock.advance(seconds)
        self.callbacks.wake()
        return now

    # ------------------------------------------------------------------ WeChat Pay

    def register_merchant(
        self,
        mchid: str,
        *,
        apiv3_key: str,
        merchant_serial: str,
        merchant_public_key: str,
        mode: str = "public_key",
        appids: list[str] | None = None,
    ) -> RegisteredMerchant:
        """Register a merchant (its public key and serial, the APIv3 key); the simulator makes
        its own WeChat Pay signing key for it, and a platform certificate in certificate mode.
        ``appids``: the apps bound to the merchant (None: every registered app)."""
        return self.pay.register_merchant(
            mchid,
            apiv3_key=apiv3_key,
            merchant_serial=merchant_serial,
            merchant_public_key=merchant_public_key,
            mode=mode,
            appids=appids,
        )

    def new_merchant(self, mchid: str, *, mode: str = "public_key") -> MerchantKit:
        """A merchant with freshly generated keys on both sides: what ``register_merchant``
        needs, plus the merchant's private key and APIv3 key to configure a client with."""
        return self.pay.new_merchant(mchid, mode=mode)

    def pay_order(
        self, mchid: str, out_trade_no: str, outcome: str = "success", *, duplicates: int = 0
    ) -> PayResult:
        """Play the user at the pay sheet: ``success`` (callback queued, plus ``duplicates``
        extra copies), ``cancel`` (the order stays NOTPAY) or ``fail`` (PAYERROR)."""
        return self.pay.pay(mchid, out_trade_no, outcome, duplicates=duplicates)

    async def deliver_callbacks(self) -> list[dict[str, Any]]:
        """Deliver every WeChat Pay callback due on the simulated clock; the attempts made."""
        return await self.callbacks.deliver_due()

    def route_callbacks(self, app: AsgiApp, origin: str | None = None) -> None:
        """Deliver callbacks for ``origin`` (None: all) into the ASGI ``app``, no socket."""
        self.callbacks.route(app, origin)

    # ------------------------------------------------------------------ subscribe messages

    def register_template(
        self, appid: str, template_id: str, fields: Mapping[str, str]
    ) -> dict[str, Any]:
        """Give ``appid`` a subscribe-message template: ``{"thing1": "thing", ...}``."""
        template = self.subscriptions.register_template(appid, template_id, dict(fields))
        return {"appid": template.appid, "template_id": template.template_id, "fields": fields}

    def subscribe(self, appid: str, user: str, template_id: str, result: str = "accept") -> int:
        """Play ``user``'s choice in the subscribe dialog (``"accept"`` or ``"reject"``).

        Each accept allows one send of the template; returns how many sends are allowed now.
        """
        return self.subscriptions.choose(appid, user, template_id, result)

    def delivered_messages(self, user: str) -> list[dict[str, Any]]:
        """The subscribe messages delivered to ``user``, oldest first, as their phone shows."""
        return [message.as_json() for message in self.subscriptions.delivered(user)]

    def _snapshot_with_messages(self) -> dict[str, Any]:
        """The world's snapshot, each user with the sends allowed and the messages delivered."""
        snapshot = self.world.snapshot()
        for user in snapshot["users"]:
            user.update(self.subscriptions.describe(user["user"]))
        snapshot["templates"] = self.subscriptions.templates()
        return snapshot

    # ------------------------------------------------------------------ inspection

    def state(self) -> dict[str, Any]:
        """Apps (no secrets), users, code and token counts, pending faults, simulated time."""
        return {
            "now": self.clock.now(),
            "clock_offset": self.clock.offset,
            **self._snapshot_with_messages(),
            "requests": {**self.app.requests, **self.pay_api.requests},
            "faults": self.faults.pending(),
            **self.pay.snapshot(),
        }
