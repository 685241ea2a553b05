"""Users after login: phone, profile, unionid learnt later, listing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.store.conftest import APP_A, APP_B, APP_C, Login
from wxlogin.errors import NotFound
from wxlogin.store import Identity, Store
from wxlogin.store.tables import users


async def test_set_phone(store: Store, login: Login, utc_now: datetime, db: AsyncEngine) -> None:
    user = (await login(APP_A, "oa")).user
    later = utc_now + timedelta(minutes=5)
    updated = await store.set_phone(
        user.id, phone="+86 13800138000", pure_phone="13800138000", country_code="86", now=later
    )
    assert (updated.phone, updated.pure_phone, updated.phone_country_code) == (
        "+86 13800138000",
        "13800138000",
        "86",
    )
    assert updated.identities == (Identity(APP_A, "oa"),)
    fetched = await store.get_user(user.id)
    assert fetched == updated
    async with db.connect() as conn:
        stamp = (
            await conn.execute(select(users.c.updated_at).where(users.c.id == user.id))
        ).scalar_one()
    assert stamp == later


async def test_update_profile_leaves_none_fields_alone(
    store: Store, login: Login, utc_now: datetime
) -> None:
    user = (await login(APP_A, "oa")).user
    one = await store.update_profile(
        user.id, nickname="小明", avatar_url="https://x/a.png", now=utc_now
    )
    assert (one.nickname, one.avatar_url) == ("小明", "https://x/a.png")
    two = await store.update_profile(user.id, nickname="Ming", now=utc_now)
    assert (two.nickname, two.avatar_url) == ("Ming", "https://x/a.png")
    three = await store.update_profile(user.id, avatar_url="https://x/b.png", now=utc_now)
    assert (three.nickname, three.avatar_url) == ("Ming", "https://x/b.png")
    same = await store.update_profile(user.id, now=utc_now)
    assert same == three


async def test_updates_through_an_old_id_reach_the_survivor(
    store: Store, login: Login, utc_now: datetime
) -> None:
    old = (await login(APP_A, "oa")).user
    owner = (await login(APP_B, "ob", "union-1")).user
    await login(APP_A, "oa", "union-1")
    updated = await store.update_profile(old.id, nickname="via old id", now=utc_now)
    assert updated.id == owner.id and updated.nickname == "via old id"
    phoned = await store.set_phone(
        old.id, phone="+1 5", pure_phone="5", country_code="1", now=utc_now
    )
    assert phoned.id == owner.id


async def test_unknown_user(store: Store, utc_now: datetime) -> None:
    assert await store.get_user("nobody") is None
    with pytest.raises(NotFound):
        await store.set_phone("nobody", phone="1", pure_phone="1", country_code="1", now=utc_now)
    with pytest.raises(NotFound):
        await store.update_profile("nobody", nickname="x", now=utc_now)


async def test_list_users_newest_first_with_identities(
    store: Store, login: Login, utc_now: datetime
) -> None:
    made = []
    for n in range(5):
        result = await login(APP_A, f"o{n}", f"u{n}", now=utc_now + timedelta(seconds=n))
        await login(APP_B, f"p{n}", f"u{n}", now=utc_now + timedelta(seconds=n))
        made.append(result.user.id)
    listed = await store.list_users()
    assert [u.id for u in listed] == made[::-1]
    assert all(
        u.identities == (Identity(APP_A, f"o{n}"), Identity(APP_B, f"p{n}"))
        for n, u in zip(range(4, -1, -1), listed, strict=True)
    )
    page = await store.list_users(limit=2, offset=1)
    assert [u.id for u in page] == made[::-1][1:3]
    assert await store.list_users(offset=10) == []


async def test_list_users_skips_tombstones(store: Store, login: Login) -> None:
    await login(APP_A, "oa")
    owner = (await login(APP_B, "ob", "union-1")).user
    await login(APP_A, "oa", "union-1")
    assert [u.id for u in await store.list_users()] == [owner.id]


# --------------------------------------------------------------------------- learn_unionid


async def test_learn_unionid_without_owner(store: Store, login: Login, utc_now: datetime) -> None:
    user = (await login(APP_A, "oa")).user
    learnt = await store.learn_unionid(
        user.id, appid=APP_A, openid="oa", unionid="u-1", now=utc_now
    )
    assert (learnt.id, learnt.unionid) == (user.id, "u-1")
    # A later first login in another app with that unionid joins this user.
    joined = await login(APP_B, "ob", "u-1")
    assert joined.user.id == user.id and joined.new_user is False


async def test_learn_unionid_merges_into_an_older_owner(
    store: Store, login: Login, utc_now: datetime
) -> None:
    owner = (await login(APP_B, "ob", "u-1", now=utc_now)).user
    user = (await login(APP_A, "oa", now=utc_now + timedelta(minutes=1))).user
    session = login.last_session_id
    await store.update_profile(user.id, nickname="from the merged user", now=utc_now)
    survivor = await store.learn_unionid(
        user.id, appid=APP_A, openid="oa", unionid="u-1", now=utc_now
    )
    assert survivor.id == owner.id
    assert survivor.identities == (Identity(APP_B, "ob"), Identity(APP_A, "oa"))
    assert survivor.nickname == "from the merged user"
    moved = await store.get_session(session)
    assert moved is not None and moved.user_id == owner.id
    resolved = await store.get_user(user.id)
    assert resolved is not None and resolved.id == owner.id


async def test_learn_unionid_merges_into_a_newer_owner(
    store: Store, login: Login, utc_now: datetime
) -> None:
    user = (await login(APP_A, "oa", now=utc_now)).user
    owner = (await login(APP_B, "ob", "u-1", now=utc_now + timedelta(minutes=1))).user
    survivor = await store.learn_unionid(
        user.id, appid=APP_A, openid="oa", unionid="u-1", now=utc_now
    )
    assert survivor.id == owner.id  # the unionid owner wins, whatever its age


async def test_learn_unionid_is_idempotent(store: Store, login: Login, utc_now: datetime) -> None:
    user = (await login(APP_A, "oa", "u-1")).user
    again = await store.learn_unionid(user.id, appid=APP_A, openid="oa", unionid="u-1", now=utc_now)
    assert again.id == user.id and again.unionid == "u-1"


async def test_learn_unionid_keeps_an_existing_different_unionid(
    store: Store, login: Login, utc_now: datetime
) -> None:
    user = (await login(APP_A, "oa", "u-1")).user
    other = (await login(APP_C, "oc", "u-2")).user
    kept = await store.learn_unionid(user.id, appid=APP_A, openid="oa", unionid="u-2", now=utc_now)
    assert kept.id == user.id and kept.unionid == "u-1"
    assert (await store.get_user(other.id)) is not None


async def test_learn_unionid_checks_ownership(
    store: Store, login: Login, utc_now: datetime
) -> None:
    mine = (await login(APP_A, "oa")).user
    await login(APP_B, "ob")
    with pytest.raises(NotFound):
        await store.learn_unionid(mine.id, appid=APP_B, openid="ob", unionid="u", now=utc_now)
    with pytest.raises(NotFound):
        await store.learn_unionid(mine.id, appid=APP_A, openid="nope", unionid="u", now=utc_now)
    with pytest.raises(NotFound):
        await store.learn_unionid("nobody", appid=APP_A, openid="oa", unionid="u", now=utc_now)
    assert (await store.get_user(mine.id)).unionid is None  # type: ignore[union-attr]


async def test_learn_unionid_through_an_old_id(
    store: Store, login: Login, utc_now: datetime
) -> None:
    """A token minted before a merge carries the old id; learning through it still works."""
    old = (await login(APP_A, "oa")).user
    owner = (await login(APP_B, "ob", "u-1")).user
    await login(APP_A, "oa", "u-1")
    result = await store.learn_unionid(old.id, appid=APP_A, openid="oa", unionid="u-1", now=utc_now)
    assert result.id == owner.id
