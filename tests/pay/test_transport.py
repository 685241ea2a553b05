"""The pay client over the production transport and a real socket (the socket is the point):
the signed Authorization goes out as a header, and WeChat Pay's signature headers come back
and are verified — both of which only the pay client asks the shared transport for."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import orjson
import pytest
import uvicorn

from tests.pay.conftest import MCHID, Clock, Sleeps
from tests.pay.fake import AUTH_RE, Answer, FakeWeChatPay
from tests.pay.test_client import transaction
from wxlogin import errors
from wxlogin.pay import Merchant, WeChatPayClient
from wxlogin.wechat.transport import AsgiTransport

pytestmark = pytest.mark.socket


@pytest.fixture
async def served(fake: FakeWeChatPay) -> AsyncIterator[str]:
    # The socket listens before uvicorn starts: early connections wait in its backlog.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(fake, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    listener.close()


async def test_signed_requests_and_verified_answers_over_a_socket(
    served: str, fake: FakeWeChatPay, merchant: Merchant, clock: Clock, sleeps: Sleeps
) -> None:
    fake.answer_json(transaction()).then(Answer(body=orjson.dumps(transaction()), sign="stranger"))
    async with WeChatPayClient(merchant, base_url=served, clock=clock, sleep=sleeps) as pay:
        assert (await pay.query_order(out_trade_no="order_20240101_0001")).paid
        with pytest.raises(errors.UntrustedPayResponse) as caught:
            await pay.query_order(out_trade_no="order_20240101_0001")
    assert type(caught.value.reason) is errors.BadPaySignature
    auth = AUTH_RE.fullmatch(fake.seen[0].headers["authorization"])
    assert auth is not None and auth["mchid"] == MCHID
    assert fake.seen[0].headers["accept"] == "application/json"
    assert fake.seen[0].query == f"mchid={MCHID}"


async def test_the_asgi_transport_returns_only_the_headers_asked_for(fake: FakeWeChatPay) -> None:
    fake.answer_json({}, extra_headers={"Request-ID": "R1", "X-Other": "no"})
    response = await AsgiTransport(fake).request(
        "GET",
        "http://pay.example/v3/x",
        params={},
        json_body=None,
        timeout=5.0,
        headers={"X-Test": "yes"},
        response_headers=("request-id", "Wechatpay-Nonce", "x-missing"),
    )
    assert set(response.headers) == {"request-id", "wechatpay-nonce"}
    assert response.headers["request-id"] == "R1"
    assert fake.seen[0].headers["x-test"] == "yes"
