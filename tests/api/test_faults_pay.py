"""The fault matrix on the payment routes, against the in-process WeChat Pay simulator.

* ``POST /pay/orders/{id}/params`` asks WeChat Pay for a prepay_id: every error code, gateway
  statuses, bad bodies (signed: an authentic answer of the wrong shape), a timeout, a drop →
  a documented error, the order untouched, and the next request gets its parameters. (The
  order itself was made while WeChat Pay failed: it stands, waiting for those parameters.)
* ``GET /me/orders/{id}`` asks WeChat Pay whether a waiting order was paid: whatever goes
  wrong, the stored state is the answer (200), and the next look learns the payment.
* ``POST /pay/notify`` takes what claims to be WeChat Pay: junk, and bodies that carry a
  genuine signature but are not a callback → a documented refusal, no order changed; the
  genuine callback afterwards is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.conftest import Harness, bearer
from tests.api.fault_support import Verdict, pay_cases, snapshots, without_backoff
from tests.api.test_pay import MCHID, PayHarness, pay_harness
from wxlogin import paycrypto
from wxlogin.pay import protocol as wxpay
from wxlogin.simulator import Simulator
from wxlogin.simulator.pay_wire import signature_headers

# The service's WeChat Pay timeout here. It bounds the healthy calls between the faults too
# (each signed and verified with RSA, in process): 0.3 s failed one of them, retries and all,
# once on a loaded machine. The delay case waits this + 0.3 s per attempt.
TIMEOUT = 1.0
PAY_TABLES = ("orders", "refunds", "pay_events")
PARAMS_CASES = pay_cases(wxpay.JSAPI_ORDER, timeout=TIMEOUT)
QUERY_CASES = pay_cases(wxpay.ORDER_BY_OUT_TRADE_NO, timeout=TIMEOUT)
# Enough failures in a row for the order's own attempt and every retry of the parameters'.
TIMES = 10


@pytest.fixture
async def pay(harness_factory: Callable[..., Any], sim: Simulator, tmp_path: Path) -> PayHarness:
    return await pay_harness(harness_factory, sim, tmp_path / "keys", pay_timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    without_backoff(monkeypatch)


async def _verdict(h: Harness) -> Verdict:
    return Verdict((await h.http.get("/openapi.json")).json())


async def test_payment_params_faults(pay: PayHarness, db: AsyncEngine) -> None:
    verdict = await _verdict(pay.h)
    answer = await pay.h.login("payer")
    user_id, token = answer["user"]["id"], bearer(answer["access_token"])
    async with snapshots(db) as rows:
        for case in PARAMS_CASES:
            pay.h.sim.add_fault(case.path, times=TIMES, **case.fault)
            order = await pay.order(user_id)  # 201 whatever WeChat Pay said: the order stands
            verdict.expect(case.name, order["state"] == "created", f"order {order['state']}")
            before = await rows(PAY_TABLES)
            path = f"/pay/orders/{order['id']}/params"
            response = await pay.h.http.post(path, headers=token)
            verdict.refused(case.name, response, "POST", "/pay/orders/{order_id}/params")
            verdict.unchanged(case.name, before, await rows(PAY_TABLES))
            pay.h.sim.clear_faults()
            again = await pay.h.http.post(path, headers=token)
            verdict.expect(case.name, again.status_code == 200, f"then {again.status_code}")
    verdict.assert_clean()


async def test_order_query_faults(pay: PayHarness, db: AsyncEngine) -> None:
    verdict = await _verdict(pay.h)
    answer = await pay.h.login("payer")
    user_id, token = answer["user"]["id"], bearer(answer["access_token"])
    pay.capture()  # callbacks are lost on the way: only asking can tell the order was paid
    async with snapshots(db) as rows:
        for case in QUERY_CASES:
            order = await pay.order(user_id)
            path = f"/me/orders/{order['id']}"
            params = await pay.h.http.post(f"{path.replace('/me', '/pay')}/params", headers=token)
            assert params.is_success
            pay.h.sim.pay_order(MCHID, order["out_trade_no"])
            before = await rows(PAY_TABLES)
            case.add_to(pay.h.sim)
            response = await pay.h.http.get(path, headers=token)
            verdict.error(case.name, response, "GET", "/me/orders/{order_id}")
            state = response.json().get("state") if response.is_success else None
            verdict.expect(case.name, state == "created", f"{response.status_code} {state}")
            verdict.unchanged(case.name, before, await rows(PAY_TABLES))
            pay.h.sim.clear_faults()
            again = await pay.h.http.get(path, headers=token)
            state = again.json().get("state") if again.is_success else None
            verdict.expect(case.name, state == "paid", f"then {again.status_code} {state}")
    verdict.assert_clean()


def _sealed(sim: Simulator, plaintext: bytes, *, key: str | None = None) -> dict[str, Any]:
    """A callback ``resource`` holding ``plaintext``, sealed with the merchant's APIv3 key."""
    merchant = sim.pay.world.merchant(MCHID)
    nonce = "n0nce4callbk"
    kind = wxpay.ORIGINAL_TYPE_TRANSACTION
    return {
        "original_type": kind,
        "algorithm": wxpay.AEAD_ALGORITHM,
        "ciphertext": paycrypto.aead_encrypt(key or merchant.apiv3_key, nonce, plaintext, kind),
        "associated_data": kind,
        "nonce": nonce,
    }


def _event(resource: Any, event_type: str = wxpay.EVENT_TRANSACTION_SUCCESS) -> bytes:
    return orjson.dumps(
        {
            "id": "EV-fault-matrix",
            "create_time": "2026-12-01T10:00:00+08:00",
            "resource_type": wxpay.RESOURCE_TYPE,
            "event_type": event_type,
            "summary": "支付成功",
            "resource": resource,
        }
    )


def _notify_cases(sim: Simulator, out_trade_no: str) -> list[tuple[str, bytes, bool]]:
    """(name, body, signed by WeChat Pay's key)."""
    good = {
        "appid": "wx1234567890abcdef",
        "mchid": MCHID,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200000000000000000000000000",
        "trade_state": "SUCCESS",
        "amount": {"total": 1999, "currency": "CNY"},
        "payer": {"openid": "oAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    }
    junk: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("not JSON", b"<xml>not json</xml>"),
        ("not UTF-8", b'{"id":\xff}'),
        ("truncated", _event(_sealed(sim, orjson.dumps(good)))[:-7]),
        ("a JSON array", b"[]"),
        ("deeply nested", b"[" * 10_000 + b"]" * 10_000),
        ("oversized", b'{"id":"' + b"x" * (64 * 1024) + b'"}'),
    ]
    authentic: list[tuple[str, bytes]] = [
        ("no resource", _event(None)),
        ("resource not an object", _event("resource")),
        ("ciphertext not base64", _event({**_sealed(sim, b"{}"), "ciphertext": "!!!"})),
        ("sealed with another key", _event(_sealed(sim, orjson.dumps(good), key="k" * 32))),
        ("plaintext not JSON", _event(_sealed(sim, b"\xff not json"))),
        ("plaintext an array", _event(_sealed(sim, b"[]"))),
        ("out_trade_no a number", _event(_sealed(sim, orjson.dumps({**good, "out_trade_no": 5})))),
        ("amount as text", _event(_sealed(sim, orjson.dumps({**good, "amount": "all"})))),
        ("unknown trade state", _event(_sealed(sim, orjson.dumps({**good, "trade_state": "?"})))),
        ("no transaction_id", _event(_sealed(sim, orjson.dumps(good | {"transaction_id": None})))),
        ("unknown event type", _event(_sealed(sim, orjson.dumps(good)), "SOMETHING.NEW")),
        ("oversized field", _event(_sealed(sim, orjson.dumps({**good, "attach": "a" * 40_000})))),
    ]
    return [(name, body, False) for name, body in junk] + [
        (name, body, True) for name, body in junk + authentic
    ]


async def test_notify_refuses_what_is_not_a_callback(pay: PayHarness, db: AsyncEngine) -> None:
    verdict = await _verdict(pay.h)
    answer = await pay.h.login("payer")
    user_id, token = answer["user"]["id"], bearer(answer["access_token"])
    order = await pay.order(user_id, 1999)
    assert (await pay.h.http.post(f"/pay/orders/{order['id']}/params", headers=token)).is_success
    pay.capture(status=500)  # the genuine callback is kept aside, to be sent after each case
    pay.h.sim.pay_order(MCHID, order["out_trade_no"])
    await pay.deliver()
    ((genuine_headers, genuine),) = pay.captured
    merchant = pay.h.sim.pay.world.merchant(MCHID)
    cases = _notify_cases(pay.h.sim, order["out_trade_no"])
    async with snapshots(db) as rows:
        for name, body, signed in cases:
            case = f"{name} ({'signed' if signed else 'unsigned'})"
            headers = signature_headers(merchant, body, pay.h.sim.clock.now()) if signed else []
            before = await rows(PAY_TABLES)
            response = await pay.h.http.post(
                "/pay/notify", content=body, headers=[(k.decode(), v.decode()) for k, v in headers]
            )
            verdict.error(case, response, "POST", "/pay/notify")
            # An authentic callback that changes nothing may be acknowledged, and is then
            # recorded (pay_events); whatever the answer, no order or refund moves.
            after = await rows(PAY_TABLES)
            if response.is_success:
                before.pop("pay_events"), after.pop("pay_events")
            verdict.unchanged(case, before, after)
    # The genuine callback, as WeChat Pay's next attempt would carry it (signed afresh).
    fresh = signature_headers(merchant, genuine, pay.h.sim.clock.now())
    assert await pay.replay([(k.lower(), v) for k, v in fresh], genuine) == 204
    mine = await pay.h.http.get(f"/me/orders/{order['id']}", headers=token)
    assert mine.json()["state"] == "paid"
    assert genuine_headers  # it was signed when WeChat Pay sent it
    verdict.assert_clean()
    assert verdict.tried == len(cases)
