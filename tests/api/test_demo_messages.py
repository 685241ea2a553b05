"""/demo's subscribe messages: the dialog played on the service's origin, the demo's stand-in
for the host app's backend (POST /demo/notify), the message read back from the simulator, and
the timeline telling all of it — without a value of the message in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import APPID, bearer
from tests.api.demo_support import Demo, running_demo
from wxlogin.api.demo import NOTIFY_FIELDS
from wxlogin.cache.base import Cache
from wxlogin.simulator import Simulator
from wxlogin.wechat.subscribe import MessageTemplate, check_message

TEMPLATE = "wxlogin-dev-order-shipped"


@pytest.fixture
async def demo(
    sim: Simulator, database_url: str, cache: Cache, tmp_path: Path
) -> AsyncIterator[Demo]:
    sim.register_template(APPID, TEMPLATE, NOTIFY_FIELDS)
    async with running_demo(
        sim,
        database_url,
        cache,
        tmp_path / "data",
        notify_template=TEMPLATE,
        message_templates={TEMPLATE: NOTIFY_FIELDS},
    ) as running:
        yield running


async def _log_in(demo: Demo, user: str = "alice") -> dict[str, Any]:
    code = (await demo.http.post("/__sim/login", json={"appid": APPID, "user": user})).json()
    answer = await demo.http.post("/auth/login", json={"code": code["code"], "appid": APPID})
    assert answer.status_code == 200, answer.text
    login: dict[str, Any] = answer.json()
    return login


async def _dialog(demo: Demo, result: str) -> dict[str, Any]:
    body = {"appid": APPID, "user": "alice", "template_id": TEMPLATE, "result": result}
    answer = await demo.http.post("/__sim/subscriptions", json=body)
    assert answer.status_code == 200, answer.text
    choice: dict[str, Any] = answer.json()
    return choice


async def test_accept_then_the_server_notifies_once_told_by_every_side(demo: Demo) -> None:
    login = await _log_in(demo)
    token = bearer(login["access_token"])
    start = demo.feed.last
    assert (await demo.http.get("/demo/config.json")).json()["notify_template"] == TEMPLATE

    assert (await _dialog(demo, "accept"))["sends_allowed"] == 1
    shipped = await demo.http.post("/demo/notify", headers=token)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["outcome"] == "sent"
    person = (await demo.http.get("/__sim/users/alice")).json()
    (message,) = person["messages"]
    assert message["template_id"] == TEMPLATE
    assert message["data"]["thing1"] == "您的订单已发货"
    # What the demo sends fits WeChat's rules (its time is WeChat's format, Beijing time).
    check_message(MessageTemplate.parse(TEMPLATE, NOTIFY_FIELDS), message["data"])

    again = await demo.http.post("/demo/notify", headers=token)
    assert (again.status_code, again.json()["error"]["code"]) == (403, "not_subscribed")

    events = await demo.events(start)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "subscription_recorded" and events[0]["side"] == "wechat"
    assert "accept" in events[0]["title"] and "1 send(s) now allowed" in events[0]["detail"]
    delivered = kinds.index("message_delivered")
    assert events[delivered]["side"] == "wechat"
    assert kinds[delivered + 1] == "message_sent"
    assert events[delivered + 1]["side"] == "wxlogin"
    assert kinds[-2:] == ["refused", "message_not_sent"]
    assert "43101" in events[-2]["detail"] and "no accept left" in events[-1]["detail"]
    text = " ".join(f"{e['title']} {e['detail']}" for e in events)
    assert "您的订单已发货" not in text and message["data"]["time2"] not in text
    assert demo.sim.openid(APPID, "alice") not in text


async def test_a_reject_allows_nothing(demo: Demo) -> None:
    login = await _log_in(demo)
    assert (await _dialog(demo, "reject"))["sends_allowed"] == 0
    refused = await demo.http.post("/demo/notify", headers=bearer(login["access_token"]))
    assert refused.json()["error"]["code"] == "not_subscribed"
    assert (await demo.http.get("/__sim/users/alice")).json()["messages"] == []


async def test_notify_needs_the_users_token(demo: Demo) -> None:
    await _log_in(demo)
    await _dialog(demo, "accept")
    for headers in ({}, bearer("not-a-token")):
        refused = await demo.http.post("/demo/notify", headers=headers)
        assert refused.status_code == 401
    assert (await demo.http.get("/__sim/users/alice")).json()["messages"] == []


async def test_without_a_template_the_demo_says_so(
    sim: Simulator, database_url: str, cache: Cache, tmp_path: Path
) -> None:
    async with running_demo(sim, database_url, cache, tmp_path / "data") as plain:
        login = await _log_in(plain)
        answer = await plain.http.post("/demo/notify", headers=bearer(login["access_token"]))
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "not_ready")
