"""Orders, refunds and callbacks in the store: every change happens once, in any order.

Run on both backends (the store suite runs again on PostgreSQL).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.store.conftest import APP_A, APP_B, Login
from wxlogin.errors import NotFound, RefundTooLarge
from wxlogin.store import Store
from wxlogin.store.records import NewOrder, Order, OrderState, PayEventOutcome, RefundState, new_id
from wxlogin.store.tables import pay_events

MCHID = "1900000109"


async def new_order(
    store: Store, user_id: str, now: datetime, *, amount: int = 1000, appid: str = APP_A
) -> Order:
    return await store.orders.create(
        NewOrder(
            id=new_id(12),
            user_id=user_id,
            appid=appid,
            mchid=MCHID,
            out_trade_no="wxl" + new_id(12).replace("-", "x"),
            description="一杯咖啡 coffee",
            attach=None,
            amount=amount,
            currency="CNY",
            expires_at=now + timedelta(minutes=30),
            now=now,
        )
    )


async def paid_order(store: Store, user_id: str, now: datetime, amount: int = 1000) -> Order:
    order = await new_order(store, user_id, now, amount=amount)
    paid = await store.orders.mark_paid(
        order.out_trade_no, transaction_id="4200000000" + "1" * 18, paid_at=now, now=now
    )
    assert paid is not None
    return paid


async def test_an_order_is_created_waiting_and_listed_for_its_user(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "alice")).user
    bob = (await login(APP_A, "bob")).user
    order = await new_order(store, alice.id, utc_now)
    assert (order.state, order.amount, order.refunded_amount) == (OrderState.CREATED, 1000, 0)
    assert order.created_at == utc_now and order.expires_at == utc_now + timedelta(minutes=30)
    assert await store.orders.get(order.id) == order
    assert await store.orders.by_out_trade_no(order.out_trade_no) == order
    assert [o.id for o in await store.orders.page(user_id=alice.id)] == [order.id]
    assert await store.orders.page(user_id=bob.id) == []
    assert "prepay" not in repr(order) or "prepay_id=" not in repr(order)


async def test_paid_once_however_often_and_late_it_is_said(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "alice")).user
    order = await new_order(store, alice.id, utc_now)
    later = utc_now + timedelta(minutes=1)
    results = await asyncio.gather(
        *(
            store.orders.mark_paid(
                order.out_trade_no, transaction_id="4200000001", paid_at=later, now=later
            )
            for _ in range(5)
        )
    )
    changed = [r for r in results if r is not None]
    assert len(changed) == 1 and changed[0].state is OrderState.PAID
    assert changed[0].paid_at == later and changed[0].transaction_id == "4200000001"
    assert await store.orders.mark_closed(order.id, now=later) is None  # paid: stays paid


async def test_a_closed_order_is_never_paid_afterwards(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "alice")).user
    order = await new_order(store, alice.id, utc_now)
    closed = await store.orders.mark_closed(order.id, now=utc_now)
    assert closed is not None and closed.state is OrderState.CLOSED
    assert (
        await store.orders.mark_paid(
            order.out_trade_no, transaction_id="42", paid_at=utc_now, now=utc_now
        )
        is None
    )


async def test_refunds_add_up_to_the_order_and_never_past_it(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "alice")).user
    order = await paid_order(store, alice.id, utc_now, amount=1000)
    part, refund = await store.orders.start_refund(
        order.id, out_refund_no="r-" + new_id(8), amount=300, reason="one broke", now=utc_now
    )
    assert (part.state, part.refunded_amount, part.refundable) == (
        OrderState.PARTIALLY_REFUNDED,
        300,
        700,
    )
    assert refund.state is RefundState.PROCESSING
    with pytest.raises(RefundTooLarge):
        await store.orders.start_refund(
            order.id, out_refund_no="r-" + new_id(8), amount=701, reason=None, now=utc_now
        )
    # Seven refunds of 100 at once for the 700 left: exactly seven fit, one more never does.
    attempts = await asyncio.gather(
        *(
            store.orders.start_refund(
                order.id, out_refund_no=f"r-{n}-" + new_id(6), amount=100, reason=None, now=utc_now
            )
            for n in range(9)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(a, tuple) for a in attempts) == 7
    assert sum(isinstance(a, RefundTooLarge) for a in attempts) == 2
    final = await store.orders.get(order.id)
    assert final is not None
    assert (final.state, final.refunded_amount, final.refundable) == (OrderState.REFUNDED, 1000, 0)
    assert len(await store.orders.refunds_of(order.id)) == 8


async def test_a_refund_of_an_unpaid_or_unknown_order_is_refused(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "alice")).user
    order = await new_order(store, alice.id, utc_now)
    with pytest.raises(RefundTooLarge):
        await store.orders.start_refund(
            order.id, out_refund_no="r-x", amount=1, reason=None, now=utc_now
        )
    with pytest.raises(NotFound):
        await store.orders.start_refund(
            "no-such-order", out_refund_no="r-y", amount=1, reason=None, now=utc_now
        )


async def test_a_refund_settles_once_and_a_closed_one_gives_its_amount_back(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "alice")).user
    order = await paid_order(store, alice.id, utc_now, amount=500)
    _, first = await store.orders.start_refund(
        order.id, out_refund_no="r-ok", amount=200, reason=None, now=utc_now
    )
    _, lost = await store.orders.start_refund(
        order.id, out_refund_no="r-lost", amount=300, reason=None, now=utc_now
    )
    done = await store.orders.finish_refund(
        "r-ok", RefundState.SUCCESS, wechat_refund_id="503", succeeded_at=utc_now, now=utc_now
    )
    assert done is not None and (done.state, done.refund_id) == (RefundState.SUCCESS, "503")
    again = await store.orders.finish_refund(
        "r-ok", RefundState.CLOSED, wechat_refund_id=None, succeeded_at=None, now=utc_now
    )
    assert again is None  # a late, contradicting outcome changes nothing
    closed = await store.orders.finish_refund(
        "r-lost", RefundState.CLOSED, wechat_refund_id=None, succeeded_at=None, now=utc_now
    )
    assert closed is not None and closed.state is RefundState.CLOSED
    after = await store.orders.get(order.id)
    assert after is not None
    assert (after.state, after.refunded_amount) == (OrderState.PARTIALLY_REFUNDED, 200)
    assert (first.amount, lost.amount) == (200, 300)


async def test_a_callback_is_recorded_once(
    store: Store, utc_now: datetime, db: AsyncEngine
) -> None:
    first = await store.orders.record_event(
        "EV-1",
        event_type="TRANSACTION.SUCCESS",
        reference="order-1",
        outcome=PayEventOutcome.APPLIED,
        received_at=utc_now,
    )
    duplicate = await store.orders.record_event(
        "EV-1",
        event_type="TRANSACTION.SUCCESS",
        reference="order-1",
        outcome=PayEventOutcome.APPLIED,
        received_at=utc_now + timedelta(seconds=15),
    )
    assert (first, duplicate) == (True, False)
    async with db.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(pay_events))).scalar_one()
    assert count == 1


async def test_expired_unpaid_orders_are_found(
    store: Store, login: Login, utc_now: datetime
) -> None:
    alice = (await login(APP_A, "alice")).user
    waiting = await new_order(store, alice.id, utc_now)
    await paid_order(store, alice.id, utc_now)
    assert await store.orders.expired_unpaid(now=utc_now) == []
    late = utc_now + timedelta(minutes=31)
    assert [o.id for o in await store.orders.expired_unpaid(now=late)] == [waiting.id]


async def test_a_merge_brings_the_orders_along(
    store: Store, login: Login, utc_now: datetime
) -> None:
    loser = (await login(APP_A, "oa")).user
    order = await new_order(store, loser.id, utc_now)
    owner = (await login(APP_B, "ob", "union-1")).user
    merged = (await login(APP_A, "oa", "union-1")).user
    assert merged.id == owner.id
    assert [o.id for o in await store.orders.page(user_id=owner.id)] == [order.id]
