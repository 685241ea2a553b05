"""Many first logins at once: one user per person, no 5xx."""

from __future__ import annotations

import asyncio

from tests.api.conftest import APPID, Harness


async def test_200_concurrent_first_logins_of_50_users(wx: Harness) -> None:
    people = [f"person-{i}" for i in range(50)]
    codes = [(p, wx.sim.login(APPID, p)) for p in people for _ in range(4)]

    async def login(code: str) -> tuple[int, str | None]:
        response = await wx.http.post("/auth/login", json={"code": code, "appid": APPID})
        body = response.json()
        return response.status_code, body.get("user", {}).get("id")

    results = await asyncio.gather(*(login(code) for _, code in codes))
    statuses = [status for status, _ in results]
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(200) == 200
    by_person: dict[str, set[str | None]] = {}
    for (person, _), (_, user_id) in zip(codes, results, strict=True):
        by_person.setdefault(person, set()).add(user_id)
    assert all(len(ids) == 1 for ids in by_person.values())
    assert len({next(iter(ids)) for ids in by_person.values()}) == 50
    users = await wx.service.store.list_users(limit=500)
    assert len(users) == 50
