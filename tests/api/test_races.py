"""Races a real client population produces, through the whole service, on both backends.

* One wx.login code sent several times at once (a double tap, a retry racing the first try):
  one login, the others told the code was used, one session in the database.
* One refresh token sent twice at once: inside the grace window both get the same new pair's
  refresh token (a client that lost an answer is not logged out); with no window, or once it
  has passed, the reuse revokes the whole session.
* 50 first logins of one person at once (in one app; then split across two apps of one open
  account): one user, one identity per app.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.conftest import APPID, APPID_B, Harness, bearer


async def _count(db: AsyncEngine, table: str) -> int:
    async with db.connect() as conn:
        # Table names are this module's constants.
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _login(h: Harness, code: str, appid: str = APPID) -> httpx2.Response:
    return await h.http.post("/auth/login", json={"code": code, "appid": appid})


async def _refresh(h: Harness, token: str) -> httpx2.Response:
    return await h.http.post("/auth/refresh", json={"refresh_token": token})


def _codes(responses: list[httpx2.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (r.status_code, "ok" if r.is_success else r.json()["error"]["code"]) for r in responses
    )


async def test_one_login_code_sent_eight_times_at_once(wx: Harness, db: AsyncEngine) -> None:
    code = wx.sim.login(APPID, "double-tapper")
    answers = await asyncio.gather(*(_login(wx, code) for _ in range(8)))
    assert _codes(answers) == {(200, "ok"): 1, (400, "code_used"): 7}
    assert [await _count(db, t) for t in ("users", "identities", "sessions")] == [1, 1, 1]


async def test_one_refresh_token_twice_at_once_inside_the_grace_window(
    wx: Harness, db: AsyncEngine
) -> None:
    first = await wx.login("retrier")
    answers = await asyncio.gather(*(_refresh(wx, first["refresh_token"]) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    successors = {a.json()["refresh_token"] for a in answers}
    assert len(successors) == 1  # the same new refresh token for both: nothing forks
    (successor,) = successors
    for answer in answers:  # each access token works
        me = await wx.http.get("/me", headers=bearer(answer.json()["access_token"]))
        assert me.status_code == 200
    assert (await _refresh(wx, successor)).status_code == 200  # the session goes on
    assert await _count(db, "sessions") == 1


async def test_ten_at_once_inside_the_window_then_the_session_goes_on(wx: Harness) -> None:
    first = await wx.login("impatient")
    answers = await asyncio.gather(*(_refresh(wx, first["refresh_token"]) for _ in range(10)))
    assert _codes(answers) == {(200, "ok"): 10}
    assert len({a.json()["refresh_token"] for a in answers}) == 1
    assert (await _refresh(wx, answers[0].json()["refresh_token"])).status_code == 200


async def _reuse_revokes(h: Harness, token: str, answers: list[httpx2.Response]) -> None:
    """A reuse revoked the session: every token of it is dead, the winner's included."""
    winners = [a for a in answers if a.status_code == 200]
    for winner in winners:
        me = await h.http.get("/me", headers=bearer(winner.json()["access_token"]))
        assert (me.status_code, me.json()["error"]["code"]) == (401, "session_revoked")
        again = await _refresh(h, winner.json()["refresh_token"])
        assert (again.status_code, again.json()["error"]["code"]) == (401, "session_revoked")
    late = await _refresh(h, token)
    assert late.status_code == 401


async def test_one_refresh_token_twice_at_once_without_a_grace_window(
    harness_factory: Callable[..., Any],
) -> None:
    h: Harness = await harness_factory(refresh_reuse_grace=0)
    first = await h.login("racer")
    answers = list(await asyncio.gather(*(_refresh(h, first["refresh_token"]) for _ in range(2))))
    assert _codes(answers) == {(200, "ok"): 1, (401, "refresh_reused"): 1}
    await _reuse_revokes(h, first["refresh_token"], answers)


async def test_a_spent_token_twice_at_once_after_the_grace_window(wx: Harness) -> None:
    first = await wx.login("late-retrier")
    spent = first["refresh_token"]
    assert (await _refresh(wx, spent)).status_code == 200
    wx.clock.advance(wx.settings.refresh_reuse_grace + 1)
    answers = list(await asyncio.gather(*(_refresh(wx, spent) for _ in range(2))))
    # One of them finds the reuse and revokes; the other finds it reused or revoked already.
    assert all(a.status_code == 401 for a in answers)
    assert {a.json()["error"]["code"] for a in answers} <= {"refresh_reused", "session_revoked"}
    assert "refresh_reused" in {a.json()["error"]["code"] for a in answers}
    await _reuse_revokes(wx, spent, answers)


async def test_fifty_first_logins_of_one_person_at_once(wx: Harness, db: AsyncEngine) -> None:
    codes = [wx.sim.login(APPID, "popular") for _ in range(50)]
    answers = await asyncio.gather(*(_login(wx, code) for code in codes))
    assert _codes(answers) == {(200, "ok"): 50}
    bodies = [a.json() for a in answers]
    assert len({b["user"]["id"] for b in bodies}) == 1
    assert sum(b["new_user"] for b in bodies) == 1  # created once, found 49 times
    assert [await _count(db, t) for t in ("users", "identities", "sessions")] == [1, 1, 50]


async def test_fifty_first_logins_of_one_person_in_two_apps_at_once(
    wx: Harness, db: AsyncEngine
) -> None:
    """Both apps share an open account: one unionid, so one user with two identities."""
    codes = [(appid, wx.sim.login(appid, "everywhere")) for appid in (APPID, APPID_B) * 25]
    answers = await asyncio.gather(*(_login(wx, code, appid) for appid, code in codes))
    assert _codes(answers) == {(200, "ok"): 50}
    ids = {a.json()["user"]["id"] for a in answers}
    async with db.connect() as conn:
        live = (
            await conn.execute(text("SELECT count(*) FROM users WHERE merged_into IS NULL"))
        ).scalar_one()
    assert live == 1
    assert await _count(db, "identities") == 2
    assert await _count(db, "sessions") == 50
    # A login answered while a second user briefly existed carries its id, and that id leads
    # to the one user (merged): every answer names the same person.
    survivors = set()
    for user_id in ids:
        user = await wx.service.store.get_user(user_id)
        assert user is not None
        survivors.add(user.id)
    assert len(survivors) == 1
