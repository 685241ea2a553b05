"""``Store.orders``: orders, refunds and WeChat Pay callbacks, as the pay service uses them.

A small façade like ``Store`` itself: each method is one unit of work (``orders.py``) on the
store's backend — reads on the read path, changes in a write transaction of their own. None of
this is on a hot path, so no batch function: the shared logic runs on both backends.
"""

from __future__ import annotations

from datetime import datetime

from wxlogin.store import orders
from wxlogin.store.records import NewOrder, Order, PayEventOutcome, Refund, RefundState, new_id
from wxlogin.store.tx import Transactions, aware_utc

__all__ = ["OrderStore"]


class OrderStore:
    def __init__(self, backend: Transactions) -> None:
        self._backend = backend

    async def create(self, new: NewOrder) -> Order:
        return await self._backend.write(lambda tx: orders.create_order(tx, new))

    async def get(self, order_id: str) -> Order | None:
        return await self._backend.read(lambda tx: orders.get_order(tx, order_id))

    async def by_out_trade_no(self, out_trade_no: str) -> Order | None:
        return await self._backend.read(
            lambda tx: orders.get_order_by_out_trade_no(tx, out_trade_no)
        )

    async def page(
        self, *, user_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Order]:
        """Newest first; a user's, or everyone's."""
        return await self._backend.read(
            lambda tx: orders.list_orders(tx, user_id=user_id, limit=limit, offset=offset)
        )

    async def set_prepay(
        self, order_id: str, prepay_id: str, *, expires_at: datetime, now: datetime
    ) -> Order:
        at, until = aware_utc(now, "now"), aware_utc(expires_at, "expires_at")
        return await self._backend.write(
            lambda tx: orders.set_prepay(tx, order_id, prepay_id, until, at)
        )

    async def mark_paid(
        self, out_trade_no: str, *, transaction_id: str, paid_at: datetime, now: datetime
    ) -> Order | None:
        """The order, now paid; None when it was not waiting (already paid, closed…)."""
        at, paid = aware_utc(now, "now"), aware_utc(paid_at, "paid_at")
        return await self._backend.write(
            lambda tx: orders.mark_paid(tx, out_trade_no, transaction_id, paid, at)
        )

    async def mark_closed(self, order_id: str, *, now: datetime) -> Order | None:
        at = aware_utc(now, "now")
        return await self._backend.write(lambda tx: orders.mark_closed(tx, order_id, at))

    async def expired_unpaid(self, *, now: datetime, limit: int = 100) -> list[Order]:
        at = aware_utc(now, "now")
        return await self._backend.read(lambda tx: orders.expired_unpaid(tx, at, limit))

    async def start_refund(
        self, order_id: str, *, out_refund_no: str, amount: int, reason: str | None, now: datetime
    ) -> tuple[Order, Refund]:
        """Reserve ``amount`` of a paid order and record the refund (``RefundNotEnough``)."""
        at = aware_utc(now, "now")
        return await self._backend.write(
            lambda tx: orders.start_refund(
                tx,
                refund_id=new_id(12),
                order_id=order_id,
                out_refund_no=out_refund_no,
                amount=amount,
                reason=reason,
                now=at,
            )
        )

    async def finish_refund(
        self,
        out_refund_no: str,
        state: RefundState,
        *,
        wechat_refund_id: str | None,
        succeeded_at: datetime | None,
        now: datetime,
    ) -> Refund | None:
        at = aware_utc(now, "now")
        done = None if succeeded_at is None else aware_utc(succeeded_at, "succeeded_at")
        return await self._backend.write(
            lambda tx: orders.finish_refund(
                tx,
                out_refund_no,
                state,
                wechat_refund_id=wechat_refund_id,
                succeeded_at=done,
                now=at,
            )
        )

    async def note_refund_id(
        self, out_refund_no: str, wechat_refund_id: str, *, now: datetime
    ) -> None:
        at = aware_utc(now, "now")
        await self._backend.write(
            lambda tx: orders.note_refund_id(tx, out_refund_no, wechat_refund_id, at)
        )

    async def stale_refunds(self, *, before: datetime, limit: int = 100) -> list[Refund]:
        """Refunds still processing with no news since ``before``, the longest silent first."""
        at = aware_utc(before, "before")
        return await self._backend.read(lambda tx: orders.stale_refunds(tx, at, limit))

    async def touch_refund(self, out_refund_no: str, *, now: datetime) -> None:
        """Note that a processing refund was asked about at ``now`` (no news, still going)."""
        at = aware_utc(now, "now")
        await self._backend.write(lambda tx: orders.touch_refund(tx, out_refund_no, at))

    async def refund(self, out_refund_no: str) -> Refund | None:
        return await self._backend.read(
            lambda tx: orders.refund_by_out_refund_no(tx, out_refund_no)
        )

    async def refunds_of(self, order_id: str) -> list[Refund]:
        return await self._backend.read(lambda tx: orders.refunds_of(tx, order_id))

    async def record_event(
        self,
        event_id: str,
        *,
        event_type: str,
        reference: str,
        outcome: PayEventOutcome,
        received_at: datetime,
    ) -> bool:
        """Remember a callback by its notification id; False when it was seen before."""
        at = aware_utc(received_at, "received_at")
        return await self._backend.write(
            lambda tx: orders.record_pay_event(
                tx,
                event_id,
                event_type=event_type,
                reference=reference,
                outcome=outcome,
                received_at=at,
            )
        )

    async def set_event_outcome(self, event_id: str, outcome: PayEventOutcome) -> None:
        await self._backend.write(lambda tx: orders.set_pay_event_outcome(tx, event_id, outcome))
