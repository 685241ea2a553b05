"""POST /cgi-bin/message/subscribe/send with WeChat's rules, the dialog on the control API
(/__sim/templates, /__sim/subscriptions), and the messages delivered in /__sim/state."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.message_vectors import CASES
from tests.simulator.support import APPID, APPID_B, JSON_CT, RID_RE, SECRET, errcode, token_of
from wxlogin.simulator import Simulator, SimulatorConfig
from wxlogin.simulator.subscribe import value_fits
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import FieldKind

TEMPLATE = "tmpl-shipped"
FIELDS = {"thing1": "thing", "phrase2": "phrase", "date3": "date"}
DATA = {"thing1": "订单 A-42 已发货", "phrase2": "配送中", "date3": "2026年12月1日"}


def _body(openid: str, data: dict[str, str] = DATA, **extra: Any) -> dict[str, Any]:
    return {
        "touser": openid,
        "template_id": TEMPLATE,
        "data": {name: {"value": value} for name, value in data.items()},
        **extra,
    }


async def _send(http: httpx2.AsyncClient, token: str, body: Any) -> dict[str, Any]:
    response = await http.post(wx.SUBSCRIBE_SEND, params={"access_token": token}, json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_CT
    answer: dict[str, Any] = response.json()
    return answer


async def _control(http: httpx2.AsyncClient, path: str, body: dict[str, Any]) -> httpx2.Response:
    return await http.post(path, json=body)


@pytest.fixture
async def alice(sim: Simulator, http: httpx2.AsyncClient) -> str:
    """alice has opened the mini program; the app has the template (through the control API)."""
    created = await _control(
        http, "/__sim/templates", {"appid": APPID, "template_id": TEMPLATE, "fields": FIELDS}
    )
    assert created.status_code == 201
    assert created.json() == {"appid": APPID, "template_id": TEMPLATE, "fields": FIELDS}
    sim.login(APPID, "alice")
    return sim.openid(APPID, "alice")


async def _choose(http: httpx2.AsyncClient, result: str, user: str = "alice") -> dict[str, Any]:
    body = {"appid": APPID, "user": user, "template_id": TEMPLATE, "result": result}
    response = await _control(http, "/__sim/subscriptions", body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize(("kind", "value", "taken"), CASES, ids=lambda c: repr(c)[:40])
def test_the_simulators_reading_of_each_kind(kind: FieldKind, value: str, taken: bool) -> None:
    assert value_fits(kind, value) is taken


async def test_one_accept_one_send_then_43101(
    sim: Simulator, http: httpx2.AsyncClient, alice: str
) -> None:
    token = await token_of(http)
    refused = await _send(http, token, _body(alice))
    assert errcode(refused) == 43101
    assert RID_RE.match(refused["errmsg"]).group("text") == "user refuse to accept the msg"  # type: ignore[union-attr]
    assert await _choose(http, "accept") == {"result": "accept", "sends_allowed": 1}
    sent = await _send(http, token, _body(alice, page="pages/order?id=42"))
    assert sent == {"errcode": 0, "errmsg": "ok"}
    assert errcode(await _send(http, token, _body(alice))) == 43101
    (message,) = sim.delivered_messages("alice")
    assert message["data"] == DATA and message["page"] == "pages/order?id=42"
    assert message["openid"] == alice


async def test_a_msgid_in_the_answer_is_a_setting() -> None:
    """WeChat's success is reported with and without a msgid; the simulator does either."""
    sim = Simulator(SimulatorConfig(subscribe_send_msgid=True))
    sim.register_app(APPID, SECRET)
    sim.register_template(APPID, TEMPLATE, FIELDS)
    sim.login(APPID, "alice")
    sim.subscribe(APPID, "alice", TEMPLATE)
    transport = httpx2.ASGITransport(app=sim.app)
    async with httpx2.AsyncClient(transport=transport, base_url=sim.base_url) as http:
        sent = await _send(http, await token_of(http), _body(sim.openid(APPID, "alice")))
    assert list(sent) == ["errcode", "errmsg", "msgid"]
    assert sent["msgid"] == sim.delivered_messages("alice")[0]["msgid"]


async def test_a_reject_allows_nothing_and_accepts_add_up(
    sim: Simulator, http: httpx2.AsyncClient, alice: str
) -> None:
    token = await token_of(http)
    assert (await _choose(http, "reject"))["sends_allowed"] == 0
    assert errcode(await _send(http, token, _body(alice))) == 43101
    await _choose(http, "accept")
    assert (await _choose(http, "accept"))["sends_allowed"] == 2
    assert (await _choose(http, "reject"))["sends_allowed"] == 2  # a reject takes none back
    for _ in range(2):
        assert errcode(await _send(http, token, _body(alice))) == 0
    assert errcode(await _send(http, token, _body(alice))) == 43101


@pytest.mark.parametrize(
    ("data", "keyword"),
    [
        ({**DATA, "thing1": "x" * 21}, "thing1"),
        ({**DATA, "phrase2": "配送中1"}, "phrase2"),
        ({**DATA, "date3": "2026-02-30"}, "date3"),
        ({"thing1": DATA["thing1"], "phrase2": DATA["phrase2"]}, "date3"),  # missing
    ],
)
async def test_47003_names_the_keyword_and_spends_no_accept(
    sim: Simulator, http: httpx2.AsyncClient, alice: str, data: dict[str, str], keyword: str
) -> None:
    token = await token_of(http)
    await _choose(http, "accept")
    refused = await _send(http, token, _body(alice, data))
    assert errcode(refused) == 47003
    assert f"argument invalid! data.{keyword}.value invalid rid: " in refused["errmsg"]
    assert errcode(await _send(http, token, _body(alice))) == 0  # the accept was kept
    assert len(sim.delivered_messages("alice")) == 1


async def test_keywords_the_template_lacks_are_ignored_and_numbers_read_as_text(
    sim: Simulator, http: httpx2.AsyncClient, alice: str
) -> None:
    token = await token_of(http)
    await _choose(http, "accept")
    body = _body(alice, {**DATA, "thing9": "ignored"})
    sim.register_template(APPID, TEMPLATE, {**FIELDS, "number4": "number"})
    body["data"]["number4"] = {"value": 42}
    assert errcode(await _send(http, token, body)) == 0
    (message,) = sim.delivered_messages("alice")
    assert message["data"] == {**DATA, "number4": "42"}


async def test_refusals_in_wechats_order(
    sim: Simulator, http: httpx2.AsyncClient, alice: str
) -> None:
    token = await token_of(http)
    await _choose(http, "accept")
    other_token = await token_of(http, APPID_B, "s3cret-of-app-b")
    sim.login(APPID_B, "alice")
    cases: list[tuple[str | None, Any, int]] = [
        (None, _body(alice), 41001),
        ("86_" + "x" * 120, _body(alice), 40001),
        (token, "not json", 47001),
        (token, _body("o" + "x" * 27), 40003),
        (token, _body(sim.openid(APPID_B, "alice")), 40003),  # another app's openid
        (token, {**_body(alice), "template_id": "no-such-template"}, 40037),
        (other_token, _body(sim.openid(APPID_B, "alice")), 40037),  # another app's template
        (token, _body(alice, page=42), 47001),
    ]
    for token_given, body, expected in cases:
        params = {"access_token": token_given} if token_given else {}
        content = body if isinstance(body, str) else None
        response = await http.post(
            wx.SUBSCRIBE_SEND, params=params, json=None if content else body, content=content
        )
        assert errcode(response.json()) == expected, (body, response.json())
    assert errcode(await _send(http, token, _body(alice))) == 0  # none of them spent it


async def test_get_is_refused_with_43002(http: httpx2.AsyncClient, alice: str) -> None:
    token = await token_of(http)
    response = await http.get(wx.SUBSCRIBE_SEND, params={"access_token": token})
    assert errcode(response.json()) == 43002


async def test_state_lists_each_users_messages_and_sends_allowed(
    sim: Simulator, http: httpx2.AsyncClient, alice: str
) -> None:
    token = await token_of(http)
    await _choose(http, "accept")
    await _choose(http, "accept")
    sim.login(APPID, "bob")
    await _send(http, token, _body(alice))
    state = (await http.get("/__sim/state")).json()
    users = {user["user"]: user for user in state["users"]}
    assert users["alice"]["subscriptions"] == {APPID: {TEMPLATE: 1}}
    assert [m["data"] for m in users["alice"]["messages"]] == [DATA]
    assert users["bob"]["messages"] == [] and users["bob"]["subscriptions"] == {}
    assert state["templates"] == [{"appid": APPID, "template_id": TEMPLATE, "fields": FIELDS}]
    described = (await http.get("/__sim/users/alice")).json()
    assert described["messages"] == users["alice"]["messages"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/__sim/templates", {"appid": "wxnope", "template_id": "t", "fields": FIELDS}, 404, ""),
        ("/__sim/templates", {"appid": APPID, "template_id": "t", "fields": {}}, 400, "fields"),
        (
            "/__sim/templates",
            {"appid": APPID, "template_id": "t", "fields": {"thing1": "stuff"}},
            400,
            "kind",
        ),
        ("/__sim/templates", {"appid": APPID, "template_id": "t t", "fields": FIELDS}, 400, ""),
        (
            "/__sim/subscriptions",
            {"appid": APPID, "user": "alice", "template_id": "unknown", "result": "accept"},
            404,
            "20001",
        ),
        (
            "/__sim/subscriptions",
            {"appid": APPID, "user": "alice", "template_id": TEMPLATE, "result": "maybe"},
            400,
            "accept",
        ),
        ("/__sim/subscriptions", {"appid": APPID, "user": "alice"}, 400, "missing"),
    ],
)
async def test_control_mistakes_answer_4xx(
    http: httpx2.AsyncClient, alice: str, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    response = await _control(http, path, body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
