"""Refunds whose news was lost: the request's answer dropped and no callback heard. A refund
left ``processing`` is asked about again once silent for ``REFUND_RECHECK_AFTER``: one WeChat
Pay never heard of gives its amount back, one it finished is settled. Both backends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_pay import PayHarness, _mine, _paid, pay_harness
from wxlogin.errors import WxLoginError
from wxlogin.pay import protocol as wxpay
from wxlogin.service.pay_news import REFUND_RECHECK_AFTER
from wxlogin.simulator import Simulator
from wxlogin.store.records import RefundState


@pytest.fixture
async def pay(harness_factory: Callable[..., Any], sim: Simulator, tmp_path: Path) -> PayHarness:
    return await pay_harness(harness_factory, sim, tmp_path / "keys")


async def test_a_refund_whose_request_never_arrived_gives_its_amount_back(
    pay: PayHarness,
) -> None:
    order, token = await _paid(pay, 1000)
    service = pay.h.service.pay
    assert service is not None
    pay.h.sim.add_fault(wxpay.REFUNDS, drop=True, times=10)  # every attempt, retries included
    with pytest.raises(WxLoginError):
        await service.refund(order["id"], amount=400)
    pay.h.sim.clear_faults()
    (lost,) = await pay.h.service.store.orders.refunds_of(order["id"])
    assert lost.state is RefundState.PROCESSING  # reserved: it may have been made
    assert (await _mine(pay, order["id"], token))["refunded_amount"] == 400
    assert await service.recheck_refunds() == 0  # too soon to call it lost
    pay.advance(REFUND_RECHECK_AFTER + 1)
    assert await service.recheck_refunds() == 1
    (closed,) = await pay.h.service.store.orders.refunds_of(order["id"])
    assert closed.state is RefundState.CLOSED and closed.refund_id is None
    mine = await _mine(pay, order["id"], token)
    assert (mine["state"], mine["refunded_amount"]) == ("paid", 0)  # the 400 are back
    again = await service.refund(order["id"])
    assert again.amount == 1000


async def test_a_refund_whose_answer_and_callback_were_lost_is_settled(pay: PayHarness) -> None:
    order, token = await _paid(pay, 1000)
    service = pay.h.service.pay
    assert service is not None
    pay.capture(status=500)  # WeChat Pay's callbacks never reach the service
    refund = await service.refund(order["id"], amount=1000)
    assert refund.state is RefundState.PROCESSING
    pay.advance(REFUND_RECHECK_AFTER + 1)  # WeChat Pay finished it long ago; nobody was told
    assert await service.recheck_refunds() == 1
    (settled,) = await pay.h.service.store.orders.refunds_of(order["id"])
    assert settled.state is RefundState.SUCCESS and settled.refund_id
    mine = await _mine(pay, order["id"], token)
    assert (mine["state"], mine["refunded_amount"]) == ("refunded", 1000)
    pay.advance(REFUND_RECHECK_AFTER + 1)
    assert await service.recheck_refunds() == 0  # settled refunds are never asked about again
