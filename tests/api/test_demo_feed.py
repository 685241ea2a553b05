"""The timeline's server side: what the service's listener and the simulator witness tell the
feed over a whole login life, that it never carries a secret, and how it pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import APPID, SECRET, Harness, bearer
from tests.api.demo_support import Demo, running_demo
from wxlogin.api.demo import EventFeed, SimulatorWitness
from wxlogin.cache.base import Cache
from wxlogin.simulator import Simulator
from wxlogin.wechat import protocol as wx


@pytest.fixture
async def demo(
    sim: Simulator, database_url: str, cache: Cache, tmp_path: Path
) -> AsyncIterator[Demo]:
    async with running_demo(sim, database_url, cache, tmp_path / "data") as running:
        yield running


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["kind"] for event in events]


async def log_in(demo: Demo, user: str = "alice") -> tuple[str, dict[str, Any]]:
    code = (await demo.http.post("/__sim/login", json={"appid": APPID, "user": user})).json()
    answer = await demo.http.post("/auth/login", json={"code": code["code"], "appid": APPID})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return code["code"], body


async def test_a_login_life_told_by_both_sides_in_order(demo: Demo) -> None:
    start = demo.feed.last
    code, login = await log_in(demo)
    user_id = login["user"]["id"]
    phone_code = (
        await demo.http.post("/__sim/phone-code", json={"appid": APPID, "user": "alice"})
    ).json()["code"]
    token = bearer(login["access_token"])
    bound = await demo.http.post("/me/phone", json={"code": phone_code}, headers=token)
    assert bound.status_code == 200, bound.text
    named = await demo.http.patch("/me/profile", json={"nickname": "小明"}, headers=token)
    assert named.status_code == 200, named.text
    old_refresh = login["refresh_token"]
    pair = (await demo.http.post("/auth/refresh", json={"refresh_token": old_refresh})).json()
    # The same spent token again within the grace window: the successor is handed out again.
    again = await demo.http.post("/auth/refresh", json={"refresh_token": old_refresh})
    assert again.status_code == 200
    out = await demo.http.post("/auth/logout", headers=bearer(pair["access_token"]))
    assert out.status_code == 204
    code2, returning = await log_in(demo)
    assert returning["user"]["id"] == user_id

    events = await demo.events(start)
    assert kinds(events) == [
        "code_minted",
        "code2session",
        "user_created",
        "tokens_issued",
        "phone_code_minted",
        "access_token",
        "phone_number",
        "phone_bound",
        "profile_updated",
        "refresh_rotated",
        "refresh_replayed",
        "session_revoked",
        "code_minted",
        "code2session",
        "user_found",
        "tokens_issued",
    ]
    by_kind = {event["kind"]: event for event in events}
    wechat = {"code_minted", "code2session", "phone_code_minted", "access_token", "phone_number"}
    assert all((e["side"] == "wechat") == (e["kind"] in wechat) for e in events), events
    assert by_kind["user_created"]["side"] == "wxlogin"
    assert user_id in by_kind["user_created"]["detail"]
    # One code, told by the phone's side and by jscode2session, recognisable by its prefix.
    assert f"{code[:6]}…" in events[0]["detail"]
    assert f"{code[:6]}…" in events[1]["detail"]
    assert "with a unionid" in events[1]["detail"]
    assert f"{code2[:6]}…" in events[-3]["detail"]
    assert by_kind["profile_updated"]["detail"] == f"nickname of {user_id}"
    assert [e["seq"] for e in events] == list(range(start + 1, start + 1 + len(events)))
    times = [e["at"] for e in events]
    assert times == sorted(times)

    # Nothing secret, and nothing whole that could be used: codes, tokens, keys, the number.
    text = " ".join(f"{e['title']} {e['detail']}" for e in events)
    phone = bound.json()["phone"]
    for secret in (
        code,
        code2,
        phone_code,
        login["access_token"],
        login["refresh_token"],
        pair["refresh_token"],
        SECRET,
        demo.sim.session_key(APPID, "alice"),
        phone,
        demo.sim.openid(APPID, "alice"),
    ):
        assert secret
        assert secret not in text
    assert f"{phone[:3]}" in by_kind["phone_bound"]["detail"]
    assert f"{phone[-4:]}" in by_kind["phone_bound"]["detail"]


async def test_refusals_reach_the_timeline(demo: Demo) -> None:
    start = demo.feed.last
    code, login = await log_in(demo)
    # The same code again: WeChat says 40163; the service answers code_used.
    again = await demo.http.post("/auth/login", json={"code": code, "appid": APPID})
    assert again.json()["error"]["code"] == "code_used"
    unknown = await demo.http.post(
        "/__sim/login", json={"appid": "wx0000000000000000", "user": "a"}
    )
    assert unknown.status_code == 404
    # A spent refresh token outside any replay: the session is revoked.
    pair = (
        await demo.http.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
    ).json()
    await demo.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    reused = await demo.http.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert reused.status_code == 401
    events = await demo.events(start)
    refused = [e for e in events if e["kind"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["title"] == f"{wx.CODE2SESSION} refused"
    assert refused[0]["detail"] == "errcode 40163: code been used"
    control = [e for e in events if e["kind"] == "control_refused"]
    assert [e["title"] for e in control] == ["wx.login refused"]
    assert kinds(events)[-1] == "refresh_reused"
    assert events[-1]["title"] == "refresh token reused: session revoked"


async def test_faults_of_the_simulator_are_shown_as_such(demo: Demo) -> None:
    start = demo.feed.last
    demo.sim.add_fault(wx.CODE2SESSION, http_status=502)
    demo.sim.add_fault(wx.CODE2SESSION, body="{}")
    demo.sim.add_fault(wx.CODE2SESSION, drop=True)
    for _ in range(3):
        code = (await demo.http.post("/__sim/login", json={"appid": APPID, "user": "bob"})).json()
        answer = await demo.http.post("/auth/login", json={"code": code["code"], "appid": APPID})
        assert answer.status_code >= 500, answer.text
    wechat = [e for e in await demo.events(start) if e["kind"] != "code_minted"]
    assert [(e["kind"], e["title"]) for e in wechat] == [
        ("gateway_error", f"{wx.CODE2SESSION}: HTTP 502"),
        ("odd_answer", f"{wx.CODE2SESSION}: not WeChat's answer"),
        ("dropped", f"{wx.CODE2SESSION}: no answer"),
    ]


async def test_events_are_paged_by_number(demo: Demo) -> None:
    now = (await demo.http.get("/demo/events")).json()
    assert now == {"events": [], "last": demo.feed.last, "missed": 0}
    await log_in(demo)
    page = (await demo.http.get("/demo/events", params={"after": str(now["last"])})).json()
    assert page["last"] == now["last"] + 4
    assert len(page["events"]) == 4
    latest = (await demo.http.get("/demo/events", params={"after": str(page["last"])})).json()
    assert latest["events"] == []
    for bad in ("-1", "x", "1.5", "²", "9" * 17, ""):
        refused = await demo.http.get("/demo/events", params={"after": bad})
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "invalid_request"


def test_the_feed_keeps_the_newest_and_counts_what_it_dropped() -> None:
    times = iter(range(100, 200))
    feed = EventFeed(capacity=3, clock=lambda: float(next(times)))
    for n in range(5):
        feed.record("wxlogin", "k", f"event {n}")
    events, missed = feed.since(0)
    assert [e.seq for e in events] == [3, 4, 5]
    assert missed == 2
    assert feed.since(3)[0][0].title == "event 3"
    assert feed.since(3)[1] == 0
    assert feed.since(5) == ([], 0)
    assert feed.since(99) == ([], 0)
    assert feed.record("wechat", "k", "dated", at=7.0).at == 7.0
    with pytest.raises(ValueError, match="capacity"):
        EventFeed(capacity=0)


async def test_the_witness_keeps_the_servers_connection_reachable_for_a_drop() -> None:
    """The simulator closes uvicorn's connection through ``send.__self__.transport``; the
    witness's own ``send`` must lead to the same place."""
    seen: list[Any] = []

    class Connection:
        def __init__(self) -> None:
            self.transport = "the server's transport"
            self.disconnected = False

        async def send(self, message: Any) -> None:
            seen.append(message)

    class Probe:
        async def __call__(self, scope: Any, receive: Any, send: Callable[..., Any]) -> None:
            owner = send.__self__  # type: ignore[attr-defined]
            seen.append((owner.transport, owner.disconnected))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    feed = EventFeed()
    witness = SimulatorWitness(Probe(), feed)
    scope = {"type": "http", "path": wx.CODE2SESSION, "method": "GET", "query_string": b""}
    await witness(scope, receive, Connection().send)
    assert seen == [("the server's transport", False)]
    assert [e.kind for e in feed.since(0)[0]] == ["dropped"]


async def test_the_service_listener_is_handed_no_credential(wx: Harness) -> None:
    told: list[tuple[str, dict[str, object]]] = []
    wx.service.listener = lambda event, fields: told.append((event, dict(fields)))
    login = await wx.login("carol")
    token = bearer(login["access_token"])
    phone_code = wx.sim.phone_code(APPID, "carol")
    assert (await wx.http.post("/me/phone", json={"code": phone_code}, headers=token)).is_success
    refreshed = await wx.http.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert (
        await wx.http.post("/auth/logout", headers=bearer(refreshed.json()["access_token"]))
    ).is_success
    assert [event for event, _ in told] == ["login", "phone_bound", "refresh", "logout"]
    user_id = login["user"]["id"]
    assert told[0][1] == {
        "user_id": user_id,
        "new_user": True,
        "identities": 1,
        "unionid": True,
        "expires_in": 900,
    }
    assert told[2][1] == {"outcome": "rotated"}
    assert told[3][1] == {"user_id": user_id}
    values = repr(told)
    for credential in (
        login["access_token"],
        login["refresh_token"],
        refreshed.json()["refresh_token"],
        phone_code,
        *wx.session_keys,
        SECRET,
    ):
        assert credential not in values
