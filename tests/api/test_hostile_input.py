"""What a hostile or broken client sends: refused with a clear 4xx before it reaches the
database, on both backends; and when the database itself fails, the client learns nothing of
where it is."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.api.conftest import APPID, ISSUER, Harness, HarnessFactory, bearer

CONTROL = ["a\u0000b", "line\nbreak", "tab\tinside", "bell\u0007", "c1\u0085control"]


@pytest.mark.parametrize("value", CONTROL)
@pytest.mark.parametrize("field", ["nickname", "avatar_url"])
async def test_control_characters_in_a_profile_are_refused(
    wx: Harness, field: str, value: str
) -> None:
    body = await wx.login("alice")
    token = bearer(body["access_token"])
    for method in ("PATCH", "POST"):
        response = await wx.http.request(method, "/me/profile", json={field: value}, headers=token)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], f"{field}: must not contain control characters") == (
            "invalid_request",
            error["message"],
        )
    me = (await wx.http.get("/me", headers=token)).json()
    assert me[field] is None  # nothing was stored


async def test_emoji_and_their_joiners_are_fine(wx: Harness) -> None:
    token = bearer((await wx.login("alice"))["access_token"])
    family = "👨\u200d👩\u200d👧 小明"
    response = await wx.http.post("/me/profile", json={"nickname": family}, headers=token)
    assert response.status_code == 200
    assert response.json()["nickname"] == family


async def test_a_control_character_in_a_login_code_is_refused(wx: Harness) -> None:
    response = await wx.http.post("/auth/login", json={"code": "abc\u0000def", "appid": APPID})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "token",
    [
        "\u0000sess." + "a" * 43,
        "sess\u0000x." + "a" * 43,
        "s" * 65 + "." + "a" * 43,
        "sess." + "é" * 40,
    ],
)
async def test_a_refresh_token_of_the_wrong_shape_never_reaches_the_database(
    wx: Harness, token: str
) -> None:
    response = await wx.http.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_token")


async def test_an_unreachable_database_says_nothing_of_where_it_is(
    harness_factory: HarnessFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wxlogin.api")
    down = "postgresql://wx:db-password-1@127.0.0.1:1/wx"
    broken: Harness = await harness_factory(database_url=down, migrate=False)
    code = broken.sim.login(APPID, "alice")
    response = await broken.http.post("/auth/login", json={"code": code, "appid": APPID})
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "not_ready",
        "message": "the database is not available right now; retry later",
    }
    assert "Retry-After" in response.headers
    for secretish in ("127.0.0.1:1", "postgresql", "db-password-1", str(tmp_path)):
        assert secretish not in response.text
    # The operator's log line has what the client did not get (password masked).
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "127.0.0.1:1" in logged and "db-password-1" not in logged
    assert ISSUER  # the harness served this on its own origin
