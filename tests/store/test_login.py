"""Store.login: users, identities, unionid linking and merging, and the cost of a login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.store.conftest import APP_A, APP_B, Login, StatementLog, new_hash
from wxlogin.errors import WxLoginError
from wxlogin.store import Identity, Store
from wxlogin.store.tables import identities, sessions, users


async def test_first_login_creates_user_identity_and_session(
    store: Store, login: Login, utc_now: datetime
) -> None:
    result = await login(APP_A, "openid-1")
    assert result.new_user is True
    user = result.user
    assert user.identities == (Identity(APP_A, "openid-1"),)
    assert user.unionid is None
    assert user.created_at == utc_now
    assert user.last_login_at == utc_now
    assert user.phone is user.nickname is user.avatar_url is None
    assert len(user.id) >= 16

    session = await store.get_session(login.last_session_id)
    assert session is not None
    assert (session.user_id, session.appid, session.openid) == (user.id, APP_A, "openid-1")
    assert session.session_key_enc is not None
    assert session.session_key_enc.startswith(b"ciphertext:")
    assert session.created_at == session.last_used_at == utc_now
    assert session.expires_at == utc_now + timedelta(days=30)
    assert session.revoked_at is None


async def test_returning_user(
    store: Store, login: Login, utc_now: datetime, db: AsyncEngine
) -> None:
    first = await login(APP_A, "openid-1")
    later = utc_now + timedelta(hours=3)
    again = await login(APP_A, "openid-1", now=later)
    assert again.new_user is False
    assert again.user.id == first.user.id
    assert again.user.created_at == utc_now
    assert again.user.last_login_at == later
    stored = await store.get_user(first.user.id)
    assert stored is not None and stored.last_login_at == later
    async with db.connect() as conn:
        ident = (await conn.execute(select(identities))).one()
        count = len((await conn.execute(select(sessions.c.id))).all())
    assert ident.last_login_at == later
    assert count == 2  # one session per login


async def test_same_openid_in_another_app_is_another_user(login: Login) -> None:
    a = await login(APP_A, "same-openid")
    b = await login(APP_B, "same-openid")
    assert a.user.id != b.user.id


async def test_unionid_links_identities_across_apps(store: Store, login: Login) -> None:
    a = await login(APP_A, "oa", "union-1")
    assert a.new_user is True
    assert a.user.unionid == "union-1"
    b = await login(APP_B, "ob", "union-1")
    assert b.new_user is False
    assert b.user.id == a.user.id
    assert b.user.identities == (Identity(APP_A, "oa"), Identity(APP_B, "ob"))
    session = await store.get_session(login.last_session_id)
    assert session is not None and (session.appid, session.user_id) == (APP_B, a.user.id)


async def test_unionid_learnt_at_a_later_login(store: Store, login: Login, db: AsyncEngine) -> None:
    first = await login(APP_A, "oa")
    assert first.user.unionid is None
    again = await login(APP_A, "oa", "union-1")
    assert (again.user.id, again.user.unionid, again.new_user) == (first.user.id, "union-1", False)
    other_app = await login(APP_B, "ob", "union-1")
    assert other_app.user.id == first.user.id
    async with db.connect() as conn:
        stored = (
            await conn.execute(select(identities.c.unionid).where(identities.c.openid == "oa"))
        ).scalar_one()
    assert stored == "union-1"


async def test_login_without_unionid_keeps_the_known_one(login: Login) -> None:
    await login(APP_A, "oa", "union-1")
    again = await login(APP_A, "oa", None)
    assert again.user.unionid == "union-1"


# --------------------------------------------------------------------------- merging


async def _user_row(db: AsyncEngine, user_id: str) -> dict[str, object]:
    async with db.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).one()
    return dict(row._mapping)


async def test_merge_when_the_unionid_owner_is_newer(
    store: Store, login: Login, utc_now: datetime, db: AsyncEngine
) -> None:
    """A (app A, no unionid) exists first; B (app B) arrives with the unionid; then A learns it."""
    old = await login(APP_A, "oa", now=utc_now)
    old_session = login.last_session_id
    await store.set_phone(
        old.user.id,
        phone="+86 13800000000",
        pure_phone="13800000000",
        country_code="86",
        now=utc_now,
    )
    await store.update_profile(
        old.user.id, nickname="Old Nick", avatar_url="https://a/old.png", now=utc_now
    )
    owner = await login(APP_B, "ob", "union-1", now=utc_now + timedelta(minutes=1))
    await store.update_profile(owner.user.id, nickname="Owner Nick", now=utc_now)

    merged = await login(APP_A, "oa", "union-1", now=utc_now + timedelta(minutes=2))

    # The owner of the unionid survives although it is the younger user.
    assert merged.user.id == owner.user.id
    assert merged.new_user is False
    assert merged.user.unionid == "union-1"
    assert merged.user.identities == (Identity(APP_A, "oa"), Identity(APP_B, "ob"))
    # Empty fields are filled from the merged user; the survivor's own values win.
    assert merged.user.nickname == "Owner Nick"
    assert merged.user.avatar_url == "https://a/old.png"
    assert (merged.user.phone, merged.user.pure_phone, merged.user.phone_country_code) == (
        "+86 13800000000",
        "13800000000",
        "86",
    )
    assert merged.user.created_at == owner.user.created_at
    assert merged.user.last_login_at == utc_now + timedelta(minutes=2)

    # The old user is a tombstone that resolves to the survivor; nothing was lost.
    tomb = await _user_row(db, old.user.id)
    assert tomb["merged_into"] == owner.user.id
    resolved = await store.get_user(old.user.id)
    assert resolved is not None and resolved.id == owner.user.id
    moved = await store.get_session(old_session)
    assert moved is not None and moved.user_id == owner.user.id
    new_session = await store.get_session(login.last_session_id)
    assert new_session is not None and new_session.user_id == owner.user.id
    assert [u.id for u in await store.list_users()] == [owner.user.id]


async def test_merge_when_the_unionid_owner_is_older(
    store: Store, login: Login, utc_now: datetime, db: AsyncEngine
) -> None:
    owner = await login(APP_B, "ob", "union-1", now=utc_now)
    later = await login(APP_A, "oa", now=utc_now + timedelta(minutes=1))
    await store.set_phone(
        owner.user.id, phone="+86 1", pure_phone="1", country_code="86", now=utc_now
    )
    await store.set_phone(
        later.user.id, phone="+1 2", pure_phone="2", country_code="1", now=utc_now
    )

    merged = await login(APP_A, "oa", "union-1", now=utc_now + timedelta(minutes=2))
    assert merged.user.id == owner.user.id
    assert merged.user.phone == "+86 1"  # the survivor's phone, as a whole
    assert (merged.user.pure_phone, merged.user.phone_country_code) == ("1", "86")
    assert (await _user_row(db, later.user.id))["merged_into"] == owner.user.id


async def _insert_user(
    db: AsyncEngine, user_id: str, at: datetime, merged_into: str | None
) -> None:
    async with db.begin() as conn:
        await conn.execute(
            users.insert().values(id=user_id, created_at=at, updated_at=at, merged_into=merged_into)
        )


async def test_merge_repoints_older_tombstones(
    store: Store, login: Login, utc_now: datetime, db: AsyncEngine
) -> None:
    """Whoever was merged into the loser ends up pointing at the survivor (one hop)."""
    loser = await login(APP_A, "oa")
    owner = await login(APP_B, "ob", "union-1")
    await _insert_user(db, "old-tombstone", utc_now, merged_into=loser.user.id)

    await login(APP_A, "oa", "union-1")

    assert (await _user_row(db, loser.user.id))["merged_into"] == owner.user.id
    assert (await _user_row(db, "old-tombstone"))["merged_into"] == owner.user.id


async def test_get_user_follows_a_chain_of_tombstones(
    store: Store, login: Login, utc_now: datetime, db: AsyncEngine
) -> None:
    live = await login(APP_A, "oa")
    await _insert_user(db, "t2", utc_now, merged_into=live.user.id)
    await _insert_user(db, "t1", utc_now, merged_into="t2")
    resolved = await store.get_user("t1")
    assert resolved is not None
    assert resolved.id == live.user.id
    assert resolved.identities == (Identity(APP_A, "oa"),)
    assert await store.get_user("nobody") is None


async def test_a_merge_cycle_is_an_error_not_a_hang(
    store: Store, utc_now: datetime, db: AsyncEngine
) -> None:
    await _insert_user(db, "c1", utc_now, merged_into=None)
    await _insert_user(db, "c2", utc_now, merged_into="c1")
    async with db.begin() as conn:
        await conn.execute(users.update().where(users.c.id == "c1").values(merged_into="c2"))
    with pytest.raises(WxLoginError, match="cycle"):
        await store.get_user("c1")


# --------------------------------------------------------------------------- cost and types


async def test_returning_user_login_is_a_few_statements(
    store: Store, login: Login, statements: StatementLog
) -> None:
    await login(APP_A, "oa", "union-1")
    await login(APP_B, "ob", "union-1")
    statements.clear()
    await login(APP_A, "oa", "union-1")
    # PostgreSQL: one call of the batch function, whatever the batch holds.
    # SQLite: touch identity, touch user, list identities, insert session — in-process.
    expected = 1 if store.dialect == "postgresql" else 4
    assert statements.count == expected, statements.statements


async def test_timestamps_round_trip_as_aware_utc(store: Store, login: Login) -> None:
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=shanghai)
    result = await login(APP_A, "oa", now=at)
    assert result.user.created_at == at
    assert result.user.created_at.tzinfo == UTC
    assert result.user.created_at.hour == 15
    fetched = await store.get_user(result.user.id)
    assert fetched is not None
    assert fetched.created_at == at and fetched.created_at.tzinfo == UTC
    session = await store.get_session(login.last_session_id)
    assert session is not None and session.expires_at.tzinfo == UTC


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="aware"):
        await store.login(
            appid=APP_A,
            openid="oa",
            unionid=None,
            session_id="s",
            session_key_enc=b"x",
            refresh_hash=new_hash(),
            expires_at=datetime(2030, 1, 1),
            now=datetime(2029, 1, 1),
        )


async def test_session_record_repr_hides_the_ciphertext(store: Store, login: Login) -> None:
    await login(APP_A, "oa")
    session = await store.get_session(login.last_session_id)
    assert session is not None and session.session_key_enc is not None
    assert "ciphertext" not in repr(session)
    assert "session_key_enc" not in repr(session)


async def test_one_session_key_per_identity_shared_by_its_sessions(
    store: Store, login: Login
) -> None:
    # WeChat keeps one session_key per app and user: a login on a second device replaces it,
    # and the first device's session must see the new one, not keep a stale copy.
    await login(APP_A, "openid-1")
    phone = login.last_session_id
    await login(APP_A, "openid-1")
    tablet = login.last_session_id
    first, second = await store.get_session(phone), await store.get_session(tablet)
    assert first is not None and second is not None
    assert first.session_key_enc == second.session_key_enc is not None
    await login(APP_A, "openid-2")  # another user's login changes nothing here
    again = await store.get_session(phone)
    assert again is not None
    assert again.session_key_enc == second.session_key_enc
