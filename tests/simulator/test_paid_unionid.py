"""getpaidunionid: a payer's unionid within five minutes of a payment."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.simulator.support import APPID, APPID_SOLO, SECRET_SOLO, errcode, token_of
from wxlogin.simulator import Simulator
from wxlogin.wechat import protocol as wx


async def paid_unionid(
    http: httpx2.AsyncClient, token: str, openid: str, **trade: str
) -> dict[str, Any]:
    params = {"access_token": token, "openid": openid, **trade}
    response = await http.get(wx.PAID_UNIONID, params=params)
    assert response.headers["content-type"] == wx.JSON_CONTENT_TYPE
    data: dict[str, Any] = response.json()
    return data


async def test_by_transaction_id_within_five_minutes(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    payment = sim.add_payment(APPID, "alice")
    assert payment["openid"] == sim.openid(APPID, "alice")
    token = await token_of(http)
    sim.advance(wx.PAID_UNIONID_WINDOW)
    data = await paid_unionid(
        http, token, payment["openid"], transaction_id=payment["transaction_id"]
    )
    assert list(data) == ["unionid", "errcode", "errmsg"]
    assert data == {"unionid": sim.unionid(APPID, "alice"), "errcode": 0, "errmsg": "ok"}
    sim.advance(1)
    late = await paid_unionid(
        http, token, payment["openid"], transaction_id=payment["transaction_id"]
    )
    assert errcode(late) == wx.ErrCode.INVALID_TRADE


async def test_by_merchant_and_order_number(sim: Simulator, http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/__sim/payments",
        json={"appid": APPID, "user": "bob", "mch_id": "1900000109", "out_trade_no": "order-1"},
    )
    assert response.status_code == 201
    openid = response.json()["openid"]
    token = await token_of(http)
    data = await paid_unionid(http, token, openid, mch_id="1900000109", out_trade_no="order-1")
    assert data["unionid"] == sim.unionid(APPID, "bob")
    wrong = await paid_unionid(http, token, openid, mch_id="1900000109", out_trade_no="order-2")
    assert errcode(wrong) == wx.ErrCode.INVALID_TRADE


async def test_refusals(sim: Simulator, http: httpx2.AsyncClient) -> None:
    alice = sim.add_payment(APPID, "alice")
    token = await token_of(http)
    txn = alice["transaction_id"]
    bob = sim.openid(APPID, "bob")
    assert errcode(await paid_unionid(http, token, bob, transaction_id=txn)) == (
        wx.ErrCode.INVALID_TRADE  # someone else's payment
    )
    assert errcode(await paid_unionid(http, token, "o" + "x" * 27, transaction_id=txn)) == (
        wx.ErrCode.INVALID_OPENID
    )
    assert errcode(await paid_unionid(http, token, alice["openid"])) == wx.ErrCode.INVALID_ARGS
    solo = sim.add_payment(APPID_SOLO, "alice")
    solo_token = await token_of(http, APPID_SOLO, SECRET_SOLO)
    no_open = await paid_unionid(
        http, solo_token, solo["openid"], transaction_id=solo["transaction_id"]
    )
    assert errcode(no_open) == wx.ErrCode.OPEN_ACCOUNT_MISSING
    assert no_open["errmsg"].startswith("open not exists, rid: ")
