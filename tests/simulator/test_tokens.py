"""access_token: supersession, stable_token roll-over and force_refresh limits, token errors."""

from __future__ import annotations

import httpx2
import pytest

from tests.simulator.support import (
    APPID,
    APPID_B,
    SECRET,
    SECRET_B,
    T0,
    check_session,
    errcode,
    plain_token,
    stable_token,
)
from wxlogin.simulator import ACCESS_TOKEN_RE, SimClock, Simulator, SimulatorConfig
from wxlogin.wechat import protocol as wx


async def works(http: httpx2.AsyncClient, sim: Simulator, token: str) -> int:
    """The errcode a token-protected call answers with this token (0: the token works)."""
    sim.login(APPID, "alice")
    key = sim.session_key(APPID, "alice")
    assert key is not None
    return errcode(await check_session(http, token, sim.openid(APPID, "alice"), key))


async def test_every_token_call_mints_a_new_one_and_the_old_lives_300_s_more(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    first = await plain_token(http)
    assert list(first) == ["access_token", "expires_in"]
    assert first["expires_in"] == wx.ACCESS_TOKEN_TTL
    assert ACCESS_TOKEN_RE.match(first["access_token"])
    assert len(first["access_token"]) <= wx.ACCESS_TOKEN_MAX_LENGTH
    sim.advance(1000)
    second = await plain_token(http)
    assert second["access_token"] != first["access_token"]
    sim.advance(wx.SUPERSEDED_TOKEN_GRACE - 1)
    assert await works(http, sim, first["access_token"]) == 0
    sim.advance(1)
    assert await works(http, sim, first["access_token"]) == wx.ErrCode.INVALID_CREDENTIAL
    assert await works(http, sim, second["access_token"]) == 0


async def test_a_superseded_token_never_outlives_its_own_expiry(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    old = (await plain_token(http))["access_token"]
    sim.advance(wx.ACCESS_TOKEN_TTL - 100)
    await plain_token(http)
    sim.advance(100)  # inside the grace period, but the old token's own life is over
    assert await works(http, sim, old) == wx.ErrCode.ACCESS_TOKEN_EXPIRED


async def test_a_token_expires_after_expires_in(sim: Simulator, http: httpx2.AsyncClient) -> None:
    token = (await plain_token(http))["access_token"]
    sim.advance(wx.ACCESS_TOKEN_TTL - 1)
    assert await works(http, sim, token) == 0
    sim.advance(1)
    assert await works(http, sim, token) == wx.ErrCode.ACCESS_TOKEN_EXPIRED


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("", wx.ErrCode.ACCESS_TOKEN_MISSING),
        ("not-a-token", wx.ErrCode.INVALID_ACCESS_TOKEN),
        ("86_" + "A" * 150, wx.ErrCode.INVALID_CREDENTIAL),  # well-shaped, never issued
    ],
)
async def test_tokens_we_never_issued(
    sim: Simulator, http: httpx2.AsyncClient, token: str, expected: int
) -> None:
    assert await works(http, sim, token) == expected


async def test_the_daily_token_quota_gives_45009_and_resets_at_beijing_midnight() -> None:
    sim = Simulator(SimulatorConfig(token_daily_quota=2), clock=SimClock(lambda: T0))
    sim.register_app(APPID, SECRET)
    transport = httpx2.ASGITransport(app=sim.app)
    async with httpx2.AsyncClient(transport=transport, base_url=sim.base_url) as http:
        results = [await plain_token(http) for _ in range(3)]
        assert [errcode(r) for r in results] == [0, 0, wx.ErrCode.DAILY_QUOTA]
        assert results[2]["errmsg"].startswith("reach max api daily quota limit, rid: ")
        beijing_midnight = ((T0 + 8 * 3600) // 86400 + 1) * 86400 - 8 * 3600
        sim.advance(beijing_midnight - T0 - 1)
        assert errcode(await plain_token(http)) == wx.ErrCode.DAILY_QUOTA
        sim.advance(1)
        assert errcode(await plain_token(http)) == 0
    assert sim.state()["token_fetches"] == {"token": 3, "stable_token": 0}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"grant_type": "authorization_code"}, wx.ErrCode.INVALID_GRANT_TYPE),
        ({"appid": ""}, wx.ErrCode.APPID_MISSING),
        ({"secret": ""}, wx.ErrCode.APPSECRET_MISSING),
        ({"appid": "wx9999999999999999"}, wx.ErrCode.INVALID_APPID),
        ({"secret": "wrong"}, wx.ErrCode.INVALID_APPSECRET),
    ],
)
async def test_token_parameter_errors(
    http: httpx2.AsyncClient, params: dict[str, str], expected: int
) -> None:
    query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **params}
    assert errcode((await http.get(wx.TOKEN, params=query)).json()) == expected
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **params}
    assert errcode((await http.post(wx.STABLE_TOKEN, json=body)).json()) == expected


async def test_stable_token_returns_the_same_token_with_its_remaining_life(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    first = await stable_token(http)
    assert list(first) == ["access_token", "expires_in"]
    assert first["expires_in"] == wx.ACCESS_TOKEN_TTL
    sim.advance(1000)
    again = await stable_token(http, force_refresh=False)
    assert again == {
        "access_token": first["access_token"],
        "expires_in": wx.ACCESS_TOKEN_TTL - 1000,
    }


async def test_stable_token_rolls_over_inside_the_last_300_s_and_the_old_one_lives_on(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    first = (await stable_token(http))["access_token"]
    sim.advance(wx.ACCESS_TOKEN_TTL - wx.STABLE_TOKEN_ROLL_WINDOW - 1)
    assert (await stable_token(http))["access_token"] == first
    sim.advance(1)  # exactly 300 s left: roll
    rolled = await stable_token(http)
    assert rolled["access_token"] != first and rolled["expires_in"] == wx.ACCESS_TOKEN_TTL
    assert await works(http, sim, first) == 0  # concurrent holders of the old one are fine
    sim.advance(wx.STABLE_TOKEN_ROLL_WINDOW)
    assert await works(http, sim, first) == wx.ErrCode.ACCESS_TOKEN_EXPIRED
    assert await works(http, sim, rolled["access_token"]) == 0


async def test_force_refresh_mints_a_new_token_and_kills_the_old_one(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    old = (await stable_token(http))["access_token"]
    sim.advance(wx.STABLE_TOKEN_FORCE_REFRESH_INTERVAL)
    new = await stable_token(http, force_refresh=True)
    assert new["access_token"] != old and new["expires_in"] == wx.ACCESS_TOKEN_TTL
    assert await works(http, sim, old) == wx.ErrCode.INVALID_CREDENTIAL
    assert await works(http, sim, new["access_token"]) == 0


async def test_force_refresh_within_30_s_returns_the_current_token(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    current = (await stable_token(http))["access_token"]
    sim.advance(wx.STABLE_TOKEN_FORCE_REFRESH_INTERVAL - 1)
    again = await stable_token(http, force_refresh=True)
    assert again["access_token"] == current
    assert await works(http, sim, current) == 0


async def test_force_refresh_is_limited_to_20_a_day(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    tokens = set()
    for _ in range(wx.STABLE_TOKEN_FORCE_REFRESH_DAILY):
        sim.advance(wx.STABLE_TOKEN_FORCE_REFRESH_INTERVAL)
        tokens.add((await stable_token(http, force_refresh=True))["access_token"])
    assert len(tokens) == wx.STABLE_TOKEN_FORCE_REFRESH_DAILY
    sim.advance(wx.STABLE_TOKEN_FORCE_REFRESH_INTERVAL)
    refused = await stable_token(http, force_refresh=True)
    assert errcode(refused) == wx.ErrCode.DAILY_QUOTA
    assert "access_token" in await stable_token(http)  # normal mode still answers


async def test_stable_and_plain_tokens_are_independent(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    stable = (await stable_token(http))["access_token"]
    plain = (await plain_token(http))["access_token"]
    for _ in range(3):
        await plain_token(http)
    sim.advance(wx.SUPERSEDED_TOKEN_GRACE)
    assert await works(http, sim, stable) == 0  # plain mints never supersede stable tokens
    assert await works(http, sim, plain) == wx.ErrCode.INVALID_CREDENTIAL
    sim.advance(wx.STABLE_TOKEN_FORCE_REFRESH_INTERVAL)
    latest_plain = (await plain_token(http))["access_token"]
    await stable_token(http, force_refresh=True)
    assert await works(http, sim, latest_plain) == 0
    assert sim.state()["token_fetches"] == {"token": 5, "stable_token": 2}


async def test_each_app_has_its_own_tokens(sim: Simulator, http: httpx2.AsyncClient) -> None:
    a = (await stable_token(http))["access_token"]
    b = (await stable_token(http, APPID_B, SECRET_B))["access_token"]
    assert a != b
    # B's token does not see A's users: the openid is unknown there.
    sim.login(APPID, "alice")
    key = sim.session_key(APPID, "alice")
    assert key is not None
    answer = await check_session(http, b, sim.openid(APPID, "alice"), key)
    assert errcode(answer) == wx.ErrCode.INVALID_SIGNATURE
    reset = await check_session(http, b, sim.openid(APPID, "alice"), key, path=wx.RESET_SESSION_KEY)
    assert errcode(reset) == wx.ErrCode.SESSION_KEY_MISSING


async def test_stable_token_wants_a_post_with_a_json_object(http: httpx2.AsyncClient) -> None:
    response = await http.get(wx.STABLE_TOKEN, params={"appid": APPID, "secret": SECRET})
    assert response.status_code == 200
    data = response.json()
    assert errcode(data) == wx.ErrCode.REQUIRE_POST
    assert data["errmsg"].startswith("require POST method, rid: ")
    for body in (b"not json", b"[1, 2]"):
        bad = await http.post(wx.STABLE_TOKEN, content=body)
        assert errcode(bad.json()) == wx.ErrCode.DATA_FORMAT_ERROR
    good = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    wrong_type = await http.post(wx.STABLE_TOKEN, json={**good, "force_refresh": "yes"})
    assert errcode(wrong_type.json()) == wx.ErrCode.DATA_FORMAT_ERROR


async def test_the_state_counts_calls_refused_for_their_token(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    first = (await plain_token(http))["access_token"]
    await plain_token(http)  # supersedes the first (it lives 300 s more)
    sim.advance(wx.SUPERSEDED_TOKEN_GRACE)
    assert await works(http, sim, first) == wx.ErrCode.INVALID_CREDENTIAL
    assert await works(http, sim, first) == wx.ErrCode.INVALID_CREDENTIAL
    sim.advance(wx.ACCESS_TOKEN_TTL)
    assert await works(http, sim, first) == wx.ErrCode.ACCESS_TOKEN_EXPIRED
    sim.add_fault(wx.CHECK_SESSION, errcode=wx.ErrCode.INVALID_CREDENTIAL)
    assert await works(http, sim, first) == wx.ErrCode.INVALID_CREDENTIAL  # a fault: not counted
    state = (await http.get("/__sim/state")).json()
    assert state["access_token_refusals"] == {"40001": 2, "42001": 1}
