"""Orders paid with WeChat Pay (API v3): created by the host app, paid in the mini program,
learnt from WeChat Pay — never from the mini program's word.

The amount never comes from the mini program: a host app creates an order for a user
(``create_order``, the Python API or ``POST /pay/orders`` behind the service credential); the
mini program asks for the ``wx.requestPayment`` parameters of an order it owns; whether it was
paid is what WeChat Pay says — its verified callback (``handle_notify``) or a query, which a
recent unpaid order gets when its owner looks at it (``requestPayment:ok`` is no proof).
Every change is applied once whatever order and however often the news arrives (see
``store/orders.py``). Unpaid orders are closed at expiry, by a background loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from wxlogin.cache.base import Cache
from wxlogin.errors import (
    AppidRequired,
    InvalidRequest,
    NotFound,
    OrderAlreadyPaid,
    OrderNotPayable,
    PayApiError,
    PayError,
    RefundTooLarge,
    UnknownApp,
    UpstreamError,
    UserNotFound,
    WxLoginError,
)
from wxlogin.metrics import PAY_ORDERS, PAY_REFUNDS
from wxlogin.pay import PaymentParams, WeChatPayClient
from wxlogin.pay.protocol import TradeState
from wxlogin.service.pay_news import PayNews
from wxlogin.store.records import (
    NewOrder,
    Order,
    OrderState,
    PayEventOutcome,
    Refund,
    RefundState,
    new_id,
)
from wxlogin.store.repository import Store
from wxlogin.tokens import AccessClaims

__all__ = ["NOTIFY_PATH", "PayService"]

_log = logging.getLogger("wxlogin.pay")

NOTIFY_PATH: Final = "/pay/notify"
# WeChat Pay's own limits (``description`` ≤ 127 characters, ``attach`` ≤ 128).
MAX_DESCRIPTION: Final = 127
MAX_ATTACH: Final = 128
MAX_AMOUNT: Final = 100_000_000_00  # fen: a hundred million yuan, far above any real order
# A prepay_id lives 2 h; ask for a new one a little before, never hand out a dying one.
_PREPAY_LIFE: Final = timedelta(hours=2) - timedelta(minutes=5)
_ORDER_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PayService:
    def __init__(
        self,
        store: Store,
        clients: Mapping[str, WeChatPayClient],
        *,
        cache: Cache,
        notify_url: str,
        order_ttl: float = 1800.0,
        requery_within: float = 1800.0,
        expiry_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._clients = dict(clients)  # appid -> the client of that app's merchant
        self._notify_url = notify_url
        self._order_ttl = timedelta(seconds=order_ttl)
        self._requery_within = timedelta(seconds=requery_within)
        self._expiry_interval = expiry_interval
        self._cache = cache
        self._clock = clock
        self._expiry: asyncio.Task[None] | None = None
        # WeChat Pay's side: its callbacks and answers, applied to the orders; ``cache`` holds
        # the signatures of callbacks accepted lately (replays refused).
        self._news = PayNews(store, self._clients, cache=cache, clock=clock)

    def __repr__(self) -> str:
        return f"PayService(apps={sorted(self._clients)!r})"

    @property
    def appids(self) -> list[str]:
        """The mini programs that take payments here."""
        return sorted(self._clients)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _client(self, appid: str) -> WeChatPayClient:
        client = self._clients.get(appid)
        if client is None:
            raise UnknownApp(f"payments are not set up for {appid!r} (no [apps.pay] merchant)")
        return client

    # ------------------------------------------------------------------ the host app's side

    async def create_order(
        self,
        user_id: str,
        amount: int,
        description: str,
        *,
        appid: str | None = None,
        attach: str | None = None,
    ) -> Order:
        """An order of ``amount`` fen for a user, to be paid in the mini program ``appid``
        (which may be left out when the user is known in one paying app only)."""
        if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
            raise InvalidRequest("amount must be a positive whole number of fen")
        if not 0 < len(description) <= MAX_DESCRIPTION:
            raise InvalidRequest(f"description must be 1 to {MAX_DESCRIPTION} characters")
        if attach is not None and len(attach) > MAX_ATTACH:
            raise InvalidRequest(f"attach must be at most {MAX_ATTACH} characters")
        user = await self._store.get_user(user_id)
        if user is None:
            raise UserNotFound()
        known = {identity.appid: identity.openid for identity in user.identities}
        if appid is None:
            paying = [app for app in known if app in self._clients]
            if not paying:
                raise InvalidRequest("the user has never logged in to an app that takes payments")
            if len(paying) > 1:
                raise AppidRequired("appid is required: say which mini program the user pays in")
            appid = paying[0]
        client = self._client(appid)
        openid = known.get(appid)
        if openid is None:
            raise InvalidRequest(f"the user has never logged in to {appid!r}")
        now = self._now()
        order = await self._store.orders.create(
            NewOrder(
                id=new_id(12),
                user_id=user.id,
                appid=appid,
                mchid=client.merchant.mchid,
                out_trade_no=_out_trade_no(),
                description=description,
                attach=attach,
                amount=amount,
                currency="CNY",
                expires_at=now + self._order_ttl,
                now=now,
            )
        )
        PAY_ORDERS.labels("created").inc()
        try:
            return await self._prepay(order, openid)
        except (PayError, UpstreamError) as exc:
            PAY_ORDERS.labels("prepay_failed").inc()
            # The order stands; the mini program's first request for its parameters tries
            # again (WeChat Pay keys orders by out_trade_no, so trying again is safe).
            _log.warning("order %s: no prepay_id yet (%s)", order.id, exc.code)
            return order

    async def _prepay(self, order: Order, openid: str) -> Order:
        prepay_id = await self._client(order.appid).create_jsapi_order(
            appid=order.appid,
            description=order.description,
            out_trade_no=order.out_trade_no,
            amount_total=order.amount,
            payer_openid=openid,
            notify_url=self._notify_url,
            time_expire=order.expires_at,
            attach=order.attach,
        )
        now = self._now()
        return await self._store.orders.set_prepay(
            order.id, prepay_id, expires_at=now + _PREPAY_LIFE, now=now
        )

    async def refund(
        self, order_id: str, *, amount: int | None = None, reason: str | None = None
    ) -> Refund:
        """Refund ``amount`` fen of a paid order (all that is left when ``None``).

        The amount is reserved before WeChat Pay is asked, so two refunds at once can never
        exceed what was paid (``RefundTooLarge``). A refund WeChat Pay refuses gives the
        amount back; one whose answer was lost stays ``processing`` until its callback comes.
        """
        order = await self._order(order_id)
        amount = order.refundable if amount is None else amount
        if type(amount) is not int or amount <= 0:
            raise RefundTooLarge("nothing is left to refund of this order")
        if reason is not None and len(reason) > 80:
            raise InvalidRequest("reason must be at most 80 characters")
        out_refund_no = "wxr" + new_id(18)
        now = self._now()
        _, refund = await self._store.orders.start_refund(
            order.id, out_refund_no=out_refund_no, amount=amount, reason=reason, now=now
        )
        try:
            answer = await self._client(order.appid).refund(
                out_refund_no=out_refund_no,
                amount_refund=amount,
                amount_total=order.amount,
                out_trade_no=order.out_trade_no,
                reason=reason,
                notify_url=self._notify_url,
            )
        except PayApiError as refused:
            PAY_REFUNDS.labels(refused.code).inc()
            await self._store.orders.finish_refund(
                out_refund_no, RefundState.CLOSED, wechat_refund_id=None, succeeded_at=None, now=now
            )
            raise
        PAY_REFUNDS.labels(answer.status.value.lower()).inc()
        settled = await self._news.settle_refund(
            out_refund_no, answer.status, answer.refund_id, answer.success_time
        )
        return settled or refund

    async def close(self, order_id: str) -> Order:
        """Close an unpaid order so it can no longer be paid (``OrderNotPayable`` once paid;
        ``OrderAlreadyPaid`` when WeChat Pay says it was paid in the meantime)."""
        order = await self._order(order_id)
        if order.state is not OrderState.CREATED:
            if order.state is OrderState.CLOSED:
                return order
            raise OrderNotPayable("the order is paid; refund it instead of closing it")
        return await self._close(order)

    async def _close(self, order: Order) -> Order:
        if order.prepay_id is not None:  # never made at WeChat Pay: nothing to close there
            try:
                await self._client(order.appid).close_order(order.out_trade_no)
            except OrderAlreadyPaid:
                # Paid in the meantime: learn it properly, and say so.
                await self._learn(order)
                raise
        closed = await self._store.orders.mark_closed(order.id, now=self._now())
        if closed is not None:
            PAY_ORDERS.labels("closed").inc()
        return closed or await self._order(order.id)

    async def close_expired(self) -> int:
        """Close the unpaid orders past their expiry (asking WeChat Pay first: a payment that
        arrived at the last moment wins). The number closed."""
        closed = 0
        for order in await self._store.orders.expired_unpaid(now=self._now()):
            try:
                if order.prepay_id is not None and await self._learn(order):
                    continue
                await self._close(order)
                closed += 1
            except WxLoginError as exc:
                _log.warning("order %s: not closed at expiry yet (%s)", order.id, exc.code)
        return closed

    async def recheck_refunds(self) -> int:
        """Ask WeChat Pay about refunds silent too long (``PayNews.recheck_refunds``)."""
        return await self._news.recheck_refunds()

    async def tidy_in_turn(self) -> tuple[int, int] | None:
        """Close expired unpaid orders (``close_expired``) and ask again about refunds whose
        news was lost (``PayNews.recheck_refunds``), by one process per interval among those
        sharing the cache (Redis): the first to ask takes the interval's turn, the others skip
        it (None). Both ask WeChat Pay, so N workers doing it would ask N times. Without a
        shared cache, or with Redis away, each process takes its own turn: doing it twice is
        harmless, never doing it is not. (orders closed, refunds settled)"""
        try:
            mine = await self._cache.set_if_absent(
                _TIDY_TURN, b"1", ttl=max(1.0, self._expiry_interval * 0.9)
            )
        except WxLoginError as exc:
            _log.debug("no shared turn for closing expired orders (%s); taking it", exc.code)
            mine = True
        if not mine:
            return None
        return await self.close_expired(), await self.recheck_refunds()

    # ------------------------------------------------------------------ the mini program's side

    async def payment_params(self, claims: AccessClaims, order_id: str) -> PaymentParams:
        """``wx.requestPayment``'s parameters for an order of the caller's, signed."""
        order = await self._owned(claims, order_id)
        if order.appid != claims.appid:
            raise InvalidRequest("this order is paid in another mini program")
        if order.state is OrderState.CLOSED or order.expires_at <= self._now():
            raise OrderNotPayable("the order is closed or has expired")
        if order.state is not OrderState.CREATED:
            raise OrderNotPayable("the order is already paid")
        if (
            order.prepay_id is None
            or order.prepay_expires_at is None
            or order.prepay_expires_at <= self._now()
        ):
            user = await self._store.get_user(order.user_id)
            openid = next(
                (i.openid for i in (user.identities if user else ()) if i.appid == order.appid),
                None,
            )
            if openid is None:
                raise InvalidRequest(f"the user has never logged in to {order.appid!r}")
            order = await self._prepay(order, openid)
        assert order.prepay_id is not None
        return self._client(order.appid).request_payment_params(order.appid, order.prepay_id)

    async def order_for(self, claims: AccessClaims, order_id: str) -> Order:
        """An order of the caller's. A recent one still waiting is checked with WeChat Pay
        first: the mini program's ``requestPayment:ok`` proves nothing, the query does."""
        order = await self._owned(claims, order_id)
        if (
            order.state is OrderState.CREATED
            and order.prepay_id is not None
            and self._now() - order.created_at <= self._requery_within
        ):
            with contextlib.suppress(PayError, UpstreamError):  # the stored state stands
                await self._learn(order)
                order = await self._order(order.id)
        return order

    async def orders_for(self, claims: AccessClaims, *, limit: int, offset: int) -> list[Order]:
        user = await self._store.get_user(claims.user_id)
        if user is None:
            raise UserNotFound()
        return await self._store.orders.page(user_id=user.id, limit=limit, offset=offset)

    # ------------------------------------------------------------------ WeChat Pay's side

    async def handle_notify(
        self, headers: Iterable[tuple[str | bytes, str | bytes]], raw_body: bytes
    ) -> PayEventOutcome:
        """Verify a callback on its raw bytes, decrypt it, and apply it once.

        Raises a ``PayVerificationError`` (answer non-2xx: WeChat Pay delivers genuine ones
        again) for anything that is not authentic. An authentic callback that does not match
        our order (amount, appid, mchid) is recorded and acknowledged, never applied: sending
        it again would not make it match.
        """
        return await self._news.handle(headers, raw_body)

    async def _learn(self, order: Order) -> bool:
        """Ask WeChat Pay about an order and apply what it says; True when it is paid."""
        transaction = await self._client(order.appid).query_order(out_trade_no=order.out_trade_no)
        if transaction.trade_state is TradeState.SUCCESS:
            await self._news.apply_payment(transaction)
            return True
        return False

    # ------------------------------------------------------------------ plumbing

    async def _order(self, order_id: str) -> Order:
        order = await self._store.orders.get(order_id) if _is_order_id(order_id) else None
        if order is None:
            raise NotFound("no such order")
        return order

    async def _owned(self, claims: AccessClaims, order_id: str) -> Order:
        """The order, when it is the caller's (following a merge); else not found (not
        forbidden: whether someone else's order exists is not the caller's business)."""
        order = await self._store.orders.get(order_id) if _is_order_id(order_id) else None
        if order is not None and order.user_id != claims.user_id:
            user = await self._store.get_user(claims.user_id)
            if user is None or user.id != order.user_id:
                order = None
        if order is None:
            raise NotFound("no such order")
        return order

    def start(self) -> None:
        """Close expired unpaid orders every ``expiry_interval`` seconds, in the background."""
        if self._expiry is None and self._clients:
            self._expiry = asyncio.create_task(self._expire_loop(), name="wxlogin-pay-expiry")

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self._expiry_interval)
            try:
                await self.tidy_in_turn()
            except Exception:
                # Keep going: an order left open is closed by the next pass.
                _log.exception("closing expired orders or rechecking refunds failed; will retry")

    async def aclose(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
            self._expiry = None
        for client in {id(c): c for c in self._clients.values()}.values():
            await client.aclose()


# The cache key whose holder tidies (expired orders, lost refunds) this interval: set with a
# lease just under the interval, never deleted; the next interval's first process takes the
# next turn.
_TIDY_TURN = "pay:tidy-turn"


def _is_order_id(value: object) -> bool:
    # Ours are new_id()s; anything else (a NUL, 10 kB, a path) is no order, and never reaches
    # the database to be refused there in its own words.
    return isinstance(value, str) and _ORDER_ID.fullmatch(value) is not None


def _out_trade_no() -> str:
    # 6-32 of [A-Za-z0-9_-*|] for WeChat Pay: ours are "wx" + 24 URL-safe characters.
    return "wx" + new_id(18)
