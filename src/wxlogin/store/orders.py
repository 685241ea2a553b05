"""Orders, refunds and WeChat Pay callbacks: units of work over a ``Tx`` (see ``tx.py``).

State moves only forward and only by conditional updates, so whatever order WeChat Pay's
callbacks and our own queries arrive in, and however often, each change happens once:

* ``mark_paid`` moves an order only from ``created``; ``mark_closed`` likewise.
* ``start_refund`` reserves the refund's amount in the same statement that checks it fits
  (``refunded_amount + amount <= amount`` of the order), so concurrent refunds can never pay
  out more than was paid; ``finish_refund`` settles a refund only from ``processing`` and
  gives the reservation back when WeChat Pay closed the refund without paying it.
* ``record_pay_event`` keys each callback by WeChat Pay's notification id: the same
  notification again is recognised, whatever it says.
"""

from __future__ import annotations

from datetime import datetime

from wxlogin.errors import NotFound, RefundTooLarge
from wxlogin.store.records import (
    NewOrder,
    Order,
    OrderState,
    PayEventOutcome,
    Refund,
    RefundState,
)
from wxlogin.store.tx import Row, Tx

__all__ = [
    "create_order",
    "expired_unpaid",
    "finish_refund",
    "get_order",
    "get_order_by_out_trade_no",
    "list_orders",
    "mark_closed",
    "mark_paid",
    "note_refund_id",
    "record_pay_event",
    "refund_by_out_refund_no",
    "refunds_of",
    "set_pay_event_outcome",
    "set_prepay",
    "stale_refunds",
    "start_refund",
    "touch_refund",
]

_ORDER_STATES = {state.value: state for state in OrderState}
_REFUND_STATES = {state.value: state for state in RefundState}


def _time(tx: Tx, value: object) -> datetime | None:
    return None if value is None else tx.time(value)


def order_record(tx: Tx, row: Row) -> Order:
    return Order(
        id=row["id"],
        user_id=row["user_id"],
        appid=row["appid"],
        mchid=row["mchid"],
        out_trade_no=row["out_trade_no"],
        description=row["description"],
        attach=row["attach"],
        amount=row["amount"],
        currency=row["currency"],
        state=_ORDER_STATES[row["state"]],
        refunded_amount=row["refunded_amount"],
        prepay_id=row["prepay_id"],
        prepay_expires_at=_time(tx, row["prepay_expires_at"]),
        transaction_id=row["transaction_id"],
        created_at=tx.time(row["created_at"]),
        updated_at=tx.time(row["updated_at"]),
        expires_at=tx.time(row["expires_at"]),
        paid_at=_time(tx, row["paid_at"]),
        closed_at=_time(tx, row["closed_at"]),
    )


def refund_record(tx: Tx, row: Row) -> Refund:
    return Refund(
        id=row["id"],
        order_id=row["order_id"],
        out_refund_no=row["out_refund_no"],
        amount=row["amount"],
        reason=row["reason"],
        state=_REFUND_STATES[row["state"]],
        refund_id=row["refund_id"],
        created_at=tx.time(row["created_at"]),
        updated_at=tx.time(row["updated_at"]),
        succeeded_at=_time(tx, row["succeeded_at"]),
    )


async def create_order(tx: Tx, new: NewOrder) -> Order:
    row = await tx.one(
        tx.sql.insert_order,
        new.id,
        new.user_id,
        new.appid,
        new.mchid,
        new.out_trade_no,
        new.description,
        new.attach,
        new.amount,
        new.currency,
        new.now,
        new.now,
        new.expires_at,
    )
    assert row is not None  # an INSERT … RETURNING that did not raise returned its row
    return order_record(tx, row)


async def get_order(tx: Tx, order_id: str) -> Order | None:
    row = await tx.one(tx.sql.order_by_id, order_id)
    return None if row is None else order_record(tx, row)


async def get_order_by_out_trade_no(tx: Tx, out_trade_no: str) -> Order | None:
    row = await tx.one(tx.sql.order_by_out_trade_no, out_trade_no)
    return None if row is None else order_record(tx, row)


async def list_orders(tx: Tx, *, user_id: str | None, limit: int, offset: int) -> list[Order]:
    rows = await tx.all(tx.sql.list_orders, user_id, user_id, limit, offset)
    return [order_record(tx, row) for row in rows]


async def set_prepay(
    tx: Tx, order_id: str, prepay_id: str, prepay_expires_at: datetime, now: datetime
) -> Order:
    row = await tx.one(tx.sql.set_prepay, prepay_id, prepay_expires_at, now, order_id)
    if row is None:
        raise NotFound("no such order")
    return order_record(tx, row)


async def mark_paid(
    tx: Tx, out_trade_no: str, transaction_id: str, paid_at: datetime, now: datetime
) -> Order | None:
    """The order, now paid; None when it was not waiting for payment (already paid, closed,
    refunded — or unknown)."""
    row = await tx.one(tx.sql.mark_paid, transaction_id, paid_at, now, out_trade_no)
    return None if row is None else order_record(tx, row)


async def mark_closed(tx: Tx, order_id: str, now: datetime) -> Order | None:
    """The order, now closed; None when it was not waiting for payment."""
    row = await tx.one(tx.sql.mark_closed, now, now, order_id)
    return None if row is None else order_record(tx, row)


async def expired_unpaid(tx: Tx, now: datetime, limit: int) -> list[Order]:
    return [order_record(tx, row) for row in await tx.all(tx.sql.expired_unpaid, now, limit)]


async def start_refund(
    tx: Tx,
    *,
    refund_id: str,
    order_id: str,
    out_refund_no: str,
    amount: int,
    reason: str | None,
    now: datetime,
) -> tuple[Order, Refund]:
    """Reserve ``amount`` of the order and record the refund as processing.

    ``RefundTooLarge`` when the order is not paid or less than ``amount`` is left of it;
    ``NotFound`` when there is no such order.
    """
    row = await tx.one(tx.sql.reserve_refund, amount, amount, now, order_id, amount)
    if row is None:
        if await tx.one(tx.sql.order_by_id, order_id) is None:
            raise NotFound("no such order")
        raise RefundTooLarge()
    refund = await tx.one(
        tx.sql.insert_refund, refund_id, order_id, out_refund_no, amount, reason, now, now
    )
    assert refund is not None
    return order_record(tx, row), refund_record(tx, refund)


async def finish_refund(
    tx: Tx,
    out_refund_no: str,
    state: RefundState,
    *,
    wechat_refund_id: str | None,
    succeeded_at: datetime | None,
    now: datetime,
) -> Refund | None:
    """Settle a processing refund; None when it was already settled (or is unknown).

    A refund WeChat Pay closed gives its amount back to the order. An abnormal one keeps it:
    the money may still move once a merchant has acted, and must not be refunded twice.
    """
    row = await tx.one(
        tx.sql.finish_refund, state.value, wechat_refund_id, succeeded_at, now, out_refund_no
    )
    if row is None:
        return None
    refund = refund_record(tx, row)
    if state is RefundState.CLOSED:
        await tx.one(
            tx.sql.release_refund, refund.amount, refund.amount, now, refund.order_id, refund.amount
        )
    return refund


async def note_refund_id(tx: Tx, out_refund_no: str, wechat_refund_id: str, now: datetime) -> None:
    await tx.run(tx.sql.note_refund_id, wechat_refund_id, now, out_refund_no)


async def stale_refunds(tx: Tx, before: datetime, limit: int) -> list[Refund]:
    return [refund_record(tx, row) for row in await tx.all(tx.sql.stale_refunds, before, limit)]


async def touch_refund(tx: Tx, out_refund_no: str, now: datetime) -> None:
    await tx.run(tx.sql.touch_refund, now, out_refund_no)


async def refund_by_out_refund_no(tx: Tx, out_refund_no: str) -> Refund | None:
    row = await tx.one(tx.sql.refund_by_out_refund_no, out_refund_no)
    return None if row is None else refund_record(tx, row)


async def refunds_of(tx: Tx, order_id: str) -> list[Refund]:
    return [refund_record(tx, row) for row in await tx.all(tx.sql.refunds_of_order, order_id)]


async def record_pay_event(
    tx: Tx,
    event_id: str,
    *,
    event_type: str,
    reference: str,
    outcome: PayEventOutcome,
    received_at: datetime,
) -> bool:
    """Remember a callback by its notification id; False when it was seen before."""
    row = await tx.one(
        tx.sql.insert_pay_event, event_id, event_type, reference, outcome.value, received_at
    )
    return row is not None


async def set_pay_event_outcome(tx: Tx, event_id: str, outcome: PayEventOutcome) -> None:
    await tx.run(tx.sql.set_pay_event_outcome, outcome.value, event_id)
