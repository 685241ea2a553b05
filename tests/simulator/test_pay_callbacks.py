"""WeChat Pay callbacks from the simulator: signed, encrypted, retried on the simulated clock.

Receivers are tiny ASGI apps (``route_callbacks``) or a real socket on 127.0.0.1; signatures
are verified and resources decrypted with ``cryptography`` directly (pay_support).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx2
import orjson
import pytest

from tests.simulator.pay_support import (
    MCHID,
    NOTIFY_URL,
    Merchant,
    call,
    open_resource,
    order_body,
    register,
    rsa_verifies,
)
from tests.simulator.support import APPID, T0
from wxlogin.simulator import Simulator, SimulatorConfig

Message = MutableMapping[str, Any]


class Receiver:
    """An ASGI notify endpoint answering the statuses it is given, then 200; it records all."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        message = await receive()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.calls.append((scope["path"], headers, message["body"]))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def verifies(merchant: Merchant, headers: dict[str, str], body: bytes) -> bool:
    message = f"{headers['wechatpay-timestamp']}\n{headers['wechatpay-nonce']}\n".encode()
    return headers["wechatpay-serial"] == merchant.wechatpay_serial and rsa_verifies(
        merchant.wechatpay_public_key, message + body + b"\n", headers["wechatpay-signature"]
    )


@pytest.fixture
def merchant(sim: Simulator) -> Merchant:
    return register(sim)


async def new_order(
    http: httpx2.AsyncClient, sim: Simulator, merchant: Merchant, no: str, **extra: Any
) -> None:
    body = order_body(no, sim.openid(APPID, "alice"), APPID, **extra)
    answer = await call(http, sim, merchant, "POST", "/v3/pay/transactions/jsapi", body)
    assert answer.status_code == 200, answer.text


async def test_a_payment_posts_a_signed_encrypted_transaction_success(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    receiver = Receiver()
    sim.route_callbacks(receiver)
    await new_order(http, sim, merchant, "order-0001", attach="cart=7")
    paid = sim.pay_order(MCHID, "order-0001")
    assert receiver.calls == []  # nothing moves until delivery runs
    (attempt,) = await sim.deliver_callbacks()
    assert attempt["status"] == 200 and attempt["acknowledged"] and attempt["attempt"] == 1

    ((path, headers, body),) = receiver.calls
    assert path == "/pay/notify" and headers["host"] == "shop.example"
    assert headers["content-type"] == "application/json"
    assert headers["wechatpay-signature-type"] == "WECHATPAY2-SHA256-RSA2048"
    assert verifies(merchant, headers, body)
    event = orjson.loads(body)
    assert list(event) == [
        "id",
        "create_time",
        "resource_type",
        "event_type",
        "summary",
        "resource",
    ]
    assert (
        event["event_type"] == "TRANSACTION.SUCCESS"
        and event["resource_type"] == "encrypt-resource"
    )
    assert event["create_time"] == "2025-11-21T12:40:00+08:00"
    resource = event["resource"]
    assert (
        resource["original_type"] == "transaction" and resource["associated_data"] == "transaction"
    )
    assert len(resource["nonce"]) == 12
    plain = open_resource(resource, merchant.apiv3_key)
    query = await call(
        http, sim, merchant, "GET", f"/v3/pay/transactions/out-trade-no/order-0001?mchid={MCHID}"
    )
    assert plain == query.json()  # the plaintext is the order as a query shows it
    assert plain["transaction_id"] == paid["transaction_id"] and plain["attach"] == "cart=7"
    assert await sim.deliver_callbacks() == []  # acknowledged: never again


async def test_a_non_2xx_answer_is_retried_on_wechats_schedule(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    receiver = Receiver(500, 404, 302)
    sim.route_callbacks(receiver)
    await new_order(http, sim, merchant, "order-0002")
    sim.pay_order(MCHID, "order-0002")
    assert [a["status"] for a in await sim.deliver_callbacks()] == [500]
    assert sim.callbacks.pending()[0]["due_at"] == T0 + 15
    sim.advance(14.9)
    assert await sim.deliver_callbacks() == []
    sim.advance(0.1)
    assert [a["status"] for a in await sim.deliver_callbacks()] == [404]
    sim.advance(15)
    assert [a["status"] for a in await sim.deliver_callbacks()] == [302]
    sim.advance(29)
    assert await sim.deliver_callbacks() == []
    sim.advance(1)
    (last,) = await sim.deliver_callbacks()
    assert last["status"] == 200 and last["attempt"] == 4 and last["acknowledged"]
    # Every attempt was signed afresh, at its own time.
    stamps = [int(headers["wechatpay-timestamp"]) for _, headers, _ in receiver.calls]
    assert stamps == [int(T0), int(T0) + 15, int(T0) + 30, int(T0) + 60]
    assert len({body for _, _, body in receiver.calls}) == 1  # the same notification each time
    assert sim.callbacks.pending() == []
    delivered = sim.state()["callbacks"]["delivered"]
    assert [(d["attempt"], d["status"]) for d in delivered] == [
        (1, 500),
        (2, 404),
        (3, 302),
        (4, 200),
    ]


@pytest.mark.parametrize("config", [SimulatorConfig(pay_callback_scale=0.01)])
async def test_the_schedule_can_be_compressed(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    sim.route_callbacks(Receiver(503))
    await new_order(http, sim, merchant, "order-0003")
    sim.pay_order(MCHID, "order-0003")
    await sim.deliver_callbacks()
    assert sim.callbacks.pending()[0]["due_at"] == pytest.approx(T0 + 0.15)
    sim.advance(0.15)
    assert [a["status"] for a in await sim.deliver_callbacks()] == [200]


@pytest.mark.parametrize("config", [SimulatorConfig(pay_callback_schedule=(10.0, 20.0))])
async def test_wechat_gives_up_after_the_last_delay(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    sim.route_callbacks(Receiver(500, 500, 500, 500))
    await new_order(http, sim, merchant, "order-0004")
    sim.pay_order(MCHID, "order-0004")
    await sim.deliver_callbacks()
    sim.advance(10)
    await sim.deliver_callbacks()
    sim.advance(20)
    (last,) = await sim.deliver_callbacks()
    assert last["attempt"] == 3 and last["retry_at"] is None
    sim.advance(86400)
    assert await sim.deliver_callbacks() == [] and sim.callbacks.pending() == []


async def test_duplicates_deliver_the_same_event_more_times(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    receiver = Receiver()
    sim.route_callbacks(receiver)
    await new_order(http, sim, merchant, "order-0005")
    sim.pay_order(MCHID, "order-0005", duplicates=3)
    attempts = await sim.deliver_callbacks()
    assert [a["copy"] for a in attempts] == [0, 1, 2, 3]
    bodies = {body for _, _, body in receiver.calls}
    assert len(receiver.calls) == 4 and len(bodies) == 1
    assert len({headers["wechatpay-nonce"] for _, headers, _ in receiver.calls}) == 4
    assert all(verifies(merchant, headers, body) for _, headers, body in receiver.calls)


@pytest.mark.parametrize("config", [SimulatorConfig(pay_callback_timeout=0.05)])
async def test_a_receiver_that_does_not_answer_in_time_is_retried(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    never = asyncio.Event()

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        await never.wait()

    sim.route_callbacks(stuck)
    await new_order(http, sim, merchant, "order-0006")
    sim.pay_order(MCHID, "order-0006")
    (attempt,) = await sim.deliver_callbacks()
    assert attempt["status"] is None and "no answer within" in attempt["error"]
    assert attempt["retry_at"] == T0 + 15


async def test_a_receiver_that_raises_is_a_failure(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    sim.route_callbacks(broken)
    await new_order(http, sim, merchant, "order-0007")
    sim.pay_order(MCHID, "order-0007")
    (attempt,) = await sim.deliver_callbacks()
    assert not attempt["acknowledged"] and "RuntimeError" in attempt["error"]


async def test_callbacks_are_routed_by_origin(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    shop, other = Receiver(), Receiver()
    sim.route_callbacks(shop, origin="https://shop.example")
    sim.route_callbacks(other, origin="http://127.0.0.1:9")
    await new_order(http, sim, merchant, "order-0008", notify_url="http://127.0.0.1:9/n")
    await new_order(http, sim, merchant, "order-0009")
    sim.pay_order(MCHID, "order-0008")
    sim.pay_order(MCHID, "order-0009")
    await sim.deliver_callbacks()
    assert [c[0] for c in other.calls] == ["/n"] and [c[0] for c in shop.calls] == ["/pay/notify"]


async def test_a_refund_success_goes_to_the_refunds_notify_url_when_due(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    receiver = Receiver()
    sim.route_callbacks(receiver)
    await new_order(http, sim, merchant, "order-0010")
    sim.pay_order(MCHID, "order-0010")
    await sim.deliver_callbacks()
    refunds = "/v3/refund/domestic/refunds"
    amount = {"refund": 25, "total": 100, "currency": "CNY"}
    body = {"out_trade_no": "order-0010", "out_refund_no": "refund-1", "amount": amount,
            "notify_url": "https://shop.example/refunded"}  # fmt: skip
    assert (await call(http, sim, merchant, "POST", refunds, body)).status_code == 200
    body = {"out_trade_no": "order-0010", "out_refund_no": "refund-2", "amount": amount}
    assert (await call(http, sim, merchant, "POST", refunds, body)).status_code == 200
    assert await sim.deliver_callbacks() == []  # PROCESSING: not yet
    sim.advance(sim.config.pay_refund_delay)
    attempts = await sim.deliver_callbacks()
    assert [a["event_type"] for a in attempts] == ["REFUND.SUCCESS", "REFUND.SUCCESS"]
    (_, first), (_, second) = [(p, orjson.loads(b)) for p, _, b in receiver.calls[1:]]
    assert [p for p, _, _ in receiver.calls[1:]] == ["/refunded", "/pay/notify"]
    assert first["resource"]["original_type"] == "refund"
    plain = open_resource(first["resource"], merchant.apiv3_key)
    assert plain["refund_status"] == "SUCCESS" and plain["out_refund_no"] == "refund-1"
    assert plain["amount"]["refund"] == 25 and plain["mchid"] == MCHID
    assert open_resource(second["resource"], merchant.apiv3_key)["out_refund_no"] == "refund-2"


async def test_delivery_over_a_real_socket(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    """No route: the simulator's own HTTP/1.1 sender posts to a server on 127.0.0.1."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        requests.append(head + await reader.readexactly(length))
        status = b"500 Internal Server Error" if len(requests) == 1 else b"204 No Content"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"http://127.0.0.1:{port}/wx/notify"
        await new_order(http, sim, merchant, "order-0011", notify_url=url)
        sim.pay_order(MCHID, "order-0011")
        assert [a["status"] for a in await sim.deliver_callbacks()] == [500]
        sim.advance(15)
        assert [a["status"] for a in await sim.deliver_callbacks()] == [204]
    finally:
        server.close()
        await server.wait_closed()
    head, _, body = requests[1].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /wx/notify HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["host"] == f"127.0.0.1:{port}" and verifies(merchant, headers, body)
    assert open_resource(orjson.loads(body)["resource"], merchant.apiv3_key)["out_trade_no"] == (
        "order-0011"
    )


async def test_a_refused_connection_is_recorded_and_retried(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # the port is free again: nothing listens there
    await new_order(http, sim, merchant, "order-0012", notify_url=f"http://127.0.0.1:{port}/n")
    sim.pay_order(MCHID, "order-0012")
    (attempt,) = await sim.deliver_callbacks()
    assert attempt["status"] is None and attempt["error"] and attempt["retry_at"] == T0 + 15


async def test_served_the_simulator_delivers_in_the_background(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    receiver = Receiver(500)
    sim.route_callbacks(receiver)
    await new_order(http, sim, merchant, "order-0013")
    sim.callbacks.start()  # what the app's lifespan start-up does under uvicorn
    try:
        sim.pay_order(MCHID, "order-0013")
        await asyncio.wait_for(receiver.arrived.wait(), 5)
        receiver.arrived.clear()
        assert len(receiver.calls) == 1
        sim.advance(15)  # wakes the task: the retry is due now, not in 15 real seconds
        await asyncio.wait_for(receiver.arrived.wait(), 5)
        assert len(receiver.calls) == 2
    finally:
        await sim.callbacks.stop()
    assert [a["status"] for a in sim.state()["callbacks"]["delivered"]] == [500, 200]


async def test_notify_url_default_is_where_the_payment_goes(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    receiver = Receiver()
    sim.route_callbacks(receiver, origin="https://shop.example")
    await new_order(http, sim, merchant, "order-0014")
    sim.pay_order(MCHID, "order-0014")
    (attempt,) = await sim.deliver_callbacks()
    assert attempt["url"] == NOTIFY_URL
