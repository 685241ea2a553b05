"""Many logins at once: no duplicate users, no errors, no lost sessions, merges converge."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.store.conftest import APP_A, APP_B, APP_C, Login
from wxlogin.store.repository import Store
from wxlogin.store.tables import identities, sessions, users


async def _counts(db: AsyncEngine) -> tuple[int, int, int]:
    async with db.connect() as conn:
        live = (
            await conn.execute(
                select(func.count()).select_from(users).where(users.c.merged_into.is_(None))
            )
        ).scalar_one()
        idents = (await conn.execute(select(func.count()).select_from(identities))).scalar_one()
        sess = (await conn.execute(select(func.count()).select_from(sessions))).scalar_one()
    return live, idents, sess


async def test_200_logins_for_50_identities_make_50_users(
    store: Store, login: Login, db: AsyncEngine
) -> None:
    calls = [(APP_A if n % 2 else APP_B, f"openid-{n}") for n in range(50)] * 4
    random.Random(7).shuffle(calls)
    results = await asyncio.gather(*(login(appid, openid) for appid, openid in calls))

    users_by_identity: dict[tuple[str, str], set[str]] = {}
    for (appid, openid), result in zip(calls, results, strict=True):
        users_by_identity.setdefault((appid, openid), set()).add(result.user.id)
    assert all(len(ids) == 1 for ids in users_by_identity.values())  # one user per identity
    assert len({next(iter(ids)) for ids in users_by_identity.values()}) == 50
    assert sum(r.new_user for r in results) == 50  # exactly one creation each
    assert await _counts(db) == (50, 50, 200)  # every login kept its session


async def test_concurrent_logins_sharing_unionids_converge(
    store: Store, login: Login, db: AsyncEngine
) -> None:
    """25 people, each in three apps (same unionid), logging in 200 times at once."""
    people = 25
    calls = [
        (app, f"{app}-{n}", f"union-{n}") for n in range(people) for app in (APP_A, APP_B, APP_C)
    ]
    calls = (calls * 3)[:200]
    random.Random(11).shuffle(calls)
    results = await asyncio.gather(*(login(*call) for call in calls))

    by_person: dict[str, set[str]] = {}
    for (_, _, unionid), result in zip(calls, results, strict=True):
        by_person.setdefault(unionid, set()).add(result.user.id)
    assert all(len(ids) == 1 for ids in by_person.values())
    assert sum(r.new_user for r in results) == people
    assert await _counts(db) == (people, 3 * people, 200)
    for user in await store.list_users(limit=100):
        assert len(user.identities) == 3
        assert len({i.openid.split("-")[-1] for i in user.identities}) == 1


async def test_concurrent_merges_into_one_unionid(
    store: Store, login: Login, utc_now: datetime, db: AsyncEngine
) -> None:
    """Eight users (eight apps, no unionid yet) all learn the same unionid at once."""
    apps = [f"wx{n:016d}" for n in range(8)]
    for app in apps:
        await login(app, f"{app}-openid")
    results = await asyncio.gather(
        *(login(app, f"{app}-openid", "the-union") for app in apps for _ in range(3))
    )
    survivors = {r.user.id for r in results}
    assert len(survivors) == 1
    (survivor,) = survivors
    live, idents, sess = await _counts(db)
    assert (live, idents, sess) == (1, 8, 8 + 24)
    user = await store.get_user(survivor)
    assert user is not None and user.unionid == "the-union" and len(user.identities) == 8
    async with db.connect() as conn:
        owners = Counter((await conn.execute(select(sessions.c.user_id))).scalars())
        tombstones = (
            (
                await conn.execute(
                    select(users.c.merged_into).where(users.c.merged_into.is_not(None))
                )
            )
            .scalars()
            .all()
        )
    assert owners == {survivor: 32}  # no session left behind on a tombstone
    assert tombstones == [survivor] * 7  # one hop from every merged user


async def test_concurrent_learn_unionid(
    store: Store, login: Login, utc_now: datetime, db: AsyncEngine
) -> None:
    apps = [f"wx{n:016d}" for n in range(6)]
    created = [(await login(app, "o")).user.id for app in apps]
    results = await asyncio.gather(
        *(
            store.learn_unionid(user_id, appid=app, openid="o", unionid="shared", now=utc_now)
            for user_id, app in zip(created, apps, strict=True)
        ),
        *(
            store.learn_unionid(user_id, appid=app, openid="o", unionid="shared", now=utc_now)
            for user_id, app in zip(created, apps, strict=True)
        ),
    )
    assert len({r.id for r in results}) == 1
    assert (await _counts(db))[:2] == (1, 6)
    for user_id in created:
        resolved = await store.get_user(user_id)
        assert resolved is not None and resolved.id == results[0].id
