"""Request ids on every response and every line logged during a request; and a whole flow
logged at DEBUG, in JSON as `wxlogin serve` logs, with no secret and no personal datum in it."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from tests.api.conftest import APPID, ISSUER, SECRET, SECRET_B, Harness, bearer, make_settings
from tests.api.test_pay import MCHID, TOKEN, PayHarness, pay_settings
from wxlogin.api.fastapi import setup
from wxlogin.api.observe import RequestIdMiddleware, request_id_of
from wxlogin.logs import configure_logging
from wxlogin.simulator import Simulator
from wxlogin.wechat.protocol import CODE2SESSION

TEMPLATE = "tmpl-order-shipped"
FIELDS = {"thing1": "thing", "time2": "time"}
NICKNAME = "小明同学"


class Records(logging.Handler):
    """Every record as it was made (before any formatter or scrubbing)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def json_logs() -> Iterator[tuple[io.StringIO, Records]]:
    """Logging as `wxlogin serve` sets it up, at DEBUG, into a buffer; and the raw records."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream, raw = io.StringIO(), Records()
    configure_logging("json", "DEBUG", stream)
    root.addHandler(raw)
    yield stream, raw
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_an_incoming_request_id_is_kept_and_sent_back(wx: Harness) -> None:
    for path in ("/healthz", "/no/such/route", "/openapi.json"):
        response = await wx.http.get(path, headers={"X-Request-ID": "edge-7f3a.42:1"})
        assert response.headers["x-request-id"] == "edge-7f3a.42:1", path
    refused = await wx.http.post("/auth/login", json={"code": 1}, headers={"X-Request-ID": "abc"})
    assert (refused.status_code, refused.headers["x-request-id"]) == (400, "abc")


async def test_a_request_id_is_made_when_none_or_an_insane_one_comes(wx: Harness) -> None:
    made = set()
    for sent in (None, "", "x" * 129, "has space", "new\nline", "semi;colon", "ünï"):
        headers = {} if sent is None else {"X-Request-ID": sent.encode("utf-8")}
        response = await wx.http.get("/healthz", headers=headers)  # type: ignore[arg-type]
        request_id = response.headers["x-request-id"]
        assert request_id != sent and re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", request_id)
        made.add(request_id)
    assert len(made) == 7  # each one new
    longest = await wx.http.get("/healthz", headers={"X-Request-ID": "y" * 128})
    assert longest.headers["x-request-id"] == "y" * 128


def test_a_forked_worker_makes_ids_of_its_own() -> None:
    mine = request_id_of([])
    with multiprocessing.get_context("fork").Pool(1) as pool:
        theirs = pool.apply(request_id_of, ([],))
    assert mine.split(b"-")[0] != theirs.split(b"-")[0]


async def test_lines_logged_during_a_request_carry_its_id(
    wx: Harness, json_logs: tuple[io.StringIO, Records]
) -> None:
    stream, _ = json_logs
    wx.sim.add_fault(CODE2SESSION, drop=True)
    code = wx.sim.login(APPID, "alice")
    response = await wx.http.post(
        "/auth/login", json={"code": code, "appid": APPID}, headers={"X-Request-ID": "req-503"}
    )
    assert response.status_code >= 500 and response.headers["x-request-id"] == "req-503"
    during = [line for line in lines(stream) if line.get("request_id") == "req-503"]
    assert any(line["level"] == "WARNING" and "/auth/login" in line["message"] for line in during)
    # Outside a request nothing is claimed.
    logging.getLogger("wxlogin.test").info("after")
    assert "request_id" not in lines(stream)[-1]


async def test_a_fastapi_host_may_add_the_request_id(
    sim: Simulator, database_url: str, tmp_path: Path
) -> None:
    app = FastAPI()
    setup(app, make_settings(database_url, tmp_path / "data"), wechat_transport=sim.transport)
    app.add_middleware(RequestIdMiddleware)
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=ISSUER) as http,
    ):
        kept = await http.get("/healthz", headers={"X-Request-ID": "host-1"})
        assert kept.headers["x-request-id"] == "host-1"
        missing = await http.get("/nowhere")
        assert missing.status_code == 404 and missing.headers["x-request-id"]


@pytest.fixture
async def shop(harness_factory: Callable[..., Any], sim: Simulator, tmp_path: Path) -> PayHarness:
    kit = sim.new_merchant(MCHID)
    harness: Harness = await harness_factory(
        **pay_settings(kit, tmp_path / "keys"), message_templates={TEMPLATE: FIELDS}
    )
    harness.sim.register_template(APPID, TEMPLATE, FIELDS)
    paying = PayHarness(harness, kit)
    paying.route_to_service()
    return paying


async def test_a_whole_flow_at_debug_logs_no_secret_and_no_personal_datum(
    shop: PayHarness, json_logs: tuple[io.StringIO, Records]
) -> None:
    stream, raw = json_logs
    h = shop.h
    codes: list[str] = []

    async def login(user: str) -> dict[str, Any]:
        code = h.sim.login(APPID, user)
        codes.append(code)
        response = await h.http.post("/auth/login", json={"code": code, "appid": APPID})
        assert response.status_code == 200, response.text
        key = h.sim.session_key(APPID, user)
        assert key is not None
        h.session_keys.add(key)
        answer: dict[str, Any] = response.json()
        return answer

    alice = await login("alice")
    token = bearer(alice["access_token"])
    phone_code = h.sim.phone_code(APPID, "alice")
    codes.append(phone_code)
    bound = await h.http.post("/me/phone", json={"code": phone_code}, headers=token)
    assert bound.status_code == 200, bound.text
    user = bound.json()
    assert user["phone"]
    profile = await h.http.patch("/me/profile", json={"nickname": NICKNAME}, headers=token)
    assert profile.status_code == 200
    pair = (
        await h.http.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    ).json()
    # A reuse after the grace window revokes the session (logged as a warning).
    h.clock.advance(60)
    reused = await h.http.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert reused.json()["error"]["code"] == "refresh_reused"
    bob = await login("bob")
    h.sim.subscribe(APPID, "bob", TEMPLATE)
    data = {"thing1": "已发货", "time2": "2026年12月1日 10:00"}
    message = {"user_id": bob["user"]["id"], "template_id": TEMPLATE, "data": data}
    assert (await h.http.post("/messages", json=message, headers=bearer(TOKEN))).status_code == 200
    order = await shop.order(bob["user"]["id"])
    h.sim.pay_order(MCHID, order["out_trade_no"], duplicates=1)
    await shop.deliver()
    # Failures, which are what gets logged: WeChat down, WeChat refusing, a broken answer.
    for fault in ({"drop": True}, {"errcode": 40029}, {"body": "<html>"}, {"errcode": -1}):
        h.sim.add_fault(CODE2SESSION, **fault)
        code = h.sim.login(APPID, "carol")
        codes.append(code)
        await h.http.post("/auth/login", json={"code": code, "appid": APPID})

    records = raw.records
    assert any(r.levelno == logging.DEBUG for r in records)  # DEBUG really was on
    assert any(r.levelno >= logging.WARNING for r in records)
    output = stream.getvalue()
    made = "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in records
    )  # what each call site handed logging, before any scrubbing
    private = {
        "AppSecret": SECRET,
        "AppSecret B": SECRET_B,
        "service token": TOKEN,
        "phone": user["phone"],
        "pure phone": user["pure_phone"] if user.get("pure_phone") else user["phone"],
        "nickname": NICKNAME,
        "access token": alice["access_token"],
        "refresh token": alice["refresh_token"],
        "new refresh token": pair["refresh_token"],
        "bob's access token": bob["access_token"],
        **{f"code {i}": c for i, c in enumerate(codes)},
        **{f"session_key {i}": k for i, k in enumerate(sorted(h.session_keys))},
    }
    leaks = {
        name: where
        for name, secret in private.items()
        for where, text in (("records", made), ("output", output))
        if secret in text
    }
    assert not leaks, leaks
    for line in output.splitlines():
        entry = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message", "pid"} <= set(entry)
