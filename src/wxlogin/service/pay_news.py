"""What WeChat Pay tells this server about its orders, applied to them once: a verified
callback (a payment or a refund) or the answer to a query.

Apart from ``PayService`` (``service/pay.py``) because this is WeChat Pay's side of the
conversation — callbacks verified on their raw bytes against whichever merchant holds the key,
copies refused, outcomes recorded — while ``PayService`` is the host app's and the mini
program's side. Both sides apply news through here: ``PayService`` when a query or a refund's
answer says what happened, ``handle`` when a callback does.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from wxlogin.cache.base import Cache
from wxlogin.errors import (
    BadUpstreamResponse,
    InvalidRequest,
    PayError,
    PayOrderNotFound,
    ReplayedPayCallback,
    UnknownPaySerial,
    WxLoginError,
)
from wxlogin.metrics import PAY_CALLBACKS, PAY_ORDERS, PAY_REFUNDS
from wxlogin.pay import PayEvent, RefundEvent, Transaction, WeChatPayClient
from wxlogin.pay import protocol as wxpay
from wxlogin.pay.protocol import RefundStatus, TradeState
from wxlogin.store.records import PayEventOutcome, Refund, RefundState
from wxlogin.store.repository import Store

__all__ = ["REFUND_RECHECK_AFTER", "PayNews"]

_log = logging.getLogger("wxlogin.pay")

# A refund with no news for this long is asked about again: its answer and callback were lost,
# or WeChat Pay is slow ("seconds to minutes", days for some bank cards).
REFUND_RECHECK_AFTER: Final = 600.0
_SIGNATURE: Final = wxpay.HEADER_SIGNATURE.lower().encode()
_SEEN: Final = "pay-seen:"
# A copy is refused as stale after MAX_CLOCK_SKEW either way; until then, by its signature.
_REPLAY_WINDOW: Final = 2 * wxpay.MAX_CLOCK_SKEW + 60
_UNREADABLE_CALLBACK: Final = "the body is not a WeChat Pay callback this server can read"
_REFUND_STATES: Final = {
    RefundStatus.PROCESSING: RefundState.PROCESSING,
    RefundStatus.SUCCESS: RefundState.SUCCESS,
    RefundStatus.CLOSED: RefundState.CLOSED,
    RefundStatus.ABNORMAL: RefundState.ABNORMAL,
}


class PayNews:
    """Applies WeChat Pay's news to the orders in ``store``, each change once."""

    def __init__(
        self,
        store: Store,
        clients: Mapping[str, WeChatPayClient],
        *,
        cache: Cache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._clients = clients  # appid -> the client of that app's merchant
        self._cache = cache  # the signatures of callbacks accepted lately (replays refused)
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def handle(
        self, headers: Iterable[tuple[str | bytes, str | bytes]], raw_body: bytes
    ) -> PayEventOutcome:
        """``PayService.handle_notify``: verify, decrypt, apply once (see there)."""
        headers = list(headers)
        try:
            event = self._verified(headers, raw_body)
            await self._first_time(headers)
        except WxLoginError as refused:
            PAY_CALLBACKS.labels("refused", refused.code).inc()
            raise
        if isinstance(event, RefundEvent):
            reference = event.refund.out_refund_no
            outcome = await self._refund_event(event)
        else:
            reference = event.transaction.out_trade_no
            outcome = await self.apply_payment(event.transaction)
        fresh = await self._store.orders.record_event(
            event.id,
            event_type=event.event_type,
            reference=reference,
            outcome=outcome,
            received_at=self._now(),
        )
        outcome = outcome if fresh else PayEventOutcome.DUPLICATE
        kind = "refund" if isinstance(event, RefundEvent) else "payment"
        PAY_CALLBACKS.labels(kind, outcome.value).inc()
        return outcome

    def _verified(
        self, headers: list[tuple[str | bytes, str | bytes]], raw_body: bytes
    ) -> PayEvent:
        # Merchants may share WeChat Pay's key or not: the one that holds the signing key's
        # serial is the one the callback is for.
        refusal: PayError | None = None
        for client in {id(c): c for c in self._clients.values()}.values():
            try:
                return client.verify_callback(headers, raw_body)
            except UnknownPaySerial as exc:
                refusal = exc
            except BadUpstreamResponse as exc:
                # Signed by WeChat Pay's key, yet not a callback we can read. To the pay client
                # that is a bad answer from upstream (502); here it is the body of a request
                # to us, so a 400: WeChat Pay tries again later, and the log names the field.
                _log.warning("a signed callback could not be read: %s", exc.message)
                raise InvalidRequest(_UNREADABLE_CALLBACK) from None
        raise refusal or UnknownPaySerial("no merchant here holds the key that signed this")

    async def _first_time(self, headers: list[tuple[str | bytes, str | bytes]]) -> None:
        """Refuse the very same signed callback a second time. WeChat Pay signs each delivery
        afresh, duplicates included; a signature seen before is someone's copy. Claimed only
        once verified (junk cannot fill the cache), kept for as long as the timestamp check
        would let it through."""
        signature = next(
            (_bytes(value) for name, value in headers if _bytes(name).lower() == _SIGNATURE),
            b"",
        )
        key = _SEEN + hashlib.sha256(signature).hexdigest()[:32]
        if not await self._cache.set_if_absent(key, b"1", ttl=_REPLAY_WINDOW):
            raise ReplayedPayCallback()

    async def apply_payment(self, transaction: Transaction) -> PayEventOutcome:
        order = await self._store.orders.by_out_trade_no(transaction.out_trade_no)
        if order is None:
            _log.warning("payment for an order we do not know (%s)", transaction.out_trade_no)
            return PayEventOutcome.UNKNOWN
        if (
            transaction.appid != order.appid
            or transaction.mchid != order.mchid
            or transaction.amount.total != order.amount
        ):
            _log.error(
                "payment of order %s does not match it (appid, mchid or amount); not applied",
                order.id,
            )
            return PayEventOutcome.MISMATCH
        if transaction.trade_state is not TradeState.SUCCESS or not transaction.transaction_id:
            return PayEventOutcome.NO_CHANGE
        paid = await self._store.orders.mark_paid(
            order.out_trade_no,
            transaction_id=transaction.transaction_id,
            paid_at=transaction.success_time or self._now(),
            now=self._now(),
        )
        if paid is None:
            return PayEventOutcome.NO_CHANGE
        PAY_ORDERS.labels("paid").inc()
        return PayEventOutcome.APPLIED

    async def _refund_event(self, event: RefundEvent) -> PayEventOutcome:
        refund = event.refund
        if await self._store.orders.refund(refund.out_refund_no) is None:
            return PayEventOutcome.UNKNOWN
        settled = await self.settle_refund(
            refund.out_refund_no, refund.status, refund.refund_id, refund.success_time
        )
        return PayEventOutcome.APPLIED if settled is not None else PayEventOutcome.NO_CHANGE

    async def recheck_refunds(self, *, silent_for: float = REFUND_RECHECK_AFTER) -> int:
        """Ask WeChat Pay again about refunds still ``processing`` with no news for
        ``silent_for`` seconds: their answer was lost on the way and their callback never came
        (or WeChat Pay is slow). One WeChat Pay never heard of was never made: closed, its
        amount given back to the order, and the operator told. One it finished is settled;
        one it is still working on is asked about again after another ``silent_for``. The
        number settled."""
        now = self._now()
        settled = 0
        stale = await self._store.orders.stale_refunds(before=now - timedelta(seconds=silent_for))
        for refund in stale:
            order = await self._store.orders.get(refund.order_id)
            client = None if order is None else self._clients.get(order.appid)
            if client is None:
                continue  # its app takes no payments any more: nobody here can ask
            try:
                answer = await client.query_refund(refund.out_refund_no)
            except PayOrderNotFound:
                done = await self._store.orders.finish_refund(
                    refund.out_refund_no,
                    RefundState.CLOSED,
                    wechat_refund_id=None,
                    succeeded_at=None,
                    now=now,
                )
                if done is not None:
                    settled += 1
                    PAY_REFUNDS.labels("never_made").inc()
                    _log.warning(
                        "refund %s was never made at WeChat Pay (its request was lost): closed, "
                        "its %d fen can be refunded again",
                        refund.out_refund_no,
                        refund.amount,
                    )
                continue
            except WxLoginError as exc:
                _log.warning("refund %s: not rechecked yet (%s)", refund.out_refund_no, exc.code)
                continue
            done = await self.settle_refund(
                refund.out_refund_no, answer.status, answer.refund_id, answer.success_time
            )
            if done is None:
                await self._store.orders.touch_refund(refund.out_refund_no, now=now)
            else:
                settled += 1
        return settled

    async def settle_refund(
        self,
        out_refund_no: str,
        status: RefundStatus,
        wechat_refund_id: str,
        success_time: datetime | None,
    ) -> Refund | None:
        state = _REFUND_STATES.get(status, RefundState.PROCESSING)
        now = self._now()
        if state is RefundState.PROCESSING:
            await self._store.orders.note_refund_id(out_refund_no, wechat_refund_id, now=now)
            return None
        return await self._store.orders.finish_refund(
            out_refund_no,
            state,
            wechat_refund_id=wechat_refund_id,
            succeeded_at=success_time if state is RefundState.SUCCESS else None,
            now=now,
        )


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1", "replace")
