"""Sessions: refresh-token rotation and reuse detection, revocation, the revocation feed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tests.store.conftest import APP_A, APP_B, REFRESH_TTL, Login, new_hash
from wxlogin.store import RotateOutcome, RotateResult, Store


async def _session_with_token(login: Login) -> tuple[str, bytes]:
    await login(APP_A, "oa")
    sid = login.last_session_id
    return sid, login.refresh_hashes[sid]


async def test_rotation(store: Store, login: Login, utc_now: datetime) -> None:
    sid, current = await _session_with_token(login)
    later = utc_now + timedelta(hours=1)
    fresh = new_hash()
    result = await store.rotate_refresh(
        session_id=sid,
        presented_hash=current,
        new_hash=fresh,
        expires_at=later + REFRESH_TTL,
        now=later,
    )
    assert result.outcome is RotateOutcome.ROTATED
    assert result.session is not None
    assert result.session.id == sid
    assert result.session.last_used_at == later
    assert result.session.expires_at == later + REFRESH_TTL
    assert result.session.revoked_at is None
    # The new token rotates next; the old one is now "used".
    nxt = await store.rotate_refresh(
        session_id=sid,
        presented_hash=fresh,
        new_hash=new_hash(),
        expires_at=later + REFRESH_TTL,
        now=later,
    )
    assert nxt.outcome is RotateOutcome.ROTATED


async def test_reuse_of_an_old_token_revokes_the_session(
    store: Store, login: Login, utc_now: datetime
) -> None:
    sid, first = await _session_with_token(login)
    second = new_hash()
    exp = utc_now + REFRESH_TTL
    await store.rotate_refresh(
        session_id=sid, presented_hash=first, new_hash=second, expires_at=exp, now=utc_now
    )
    await store.rotate_refresh(
        session_id=sid, presented_hash=second, new_hash=new_hash(), expires_at=exp, now=utc_now
    )

    later = utc_now + timedelta(minutes=1)
    reused = await store.rotate_refresh(
        session_id=sid, presented_hash=first, new_hash=new_hash(), expires_at=exp, now=later
    )
    assert reused.outcome is RotateOutcome.REUSED
    assert reused.session is not None and reused.session.revoked_at == later
    session = await store.get_session(sid)
    assert session is not None and session.revoked_at == later
    assert await store.revoked_since(later) == [(sid, later)]
    # The thief and the owner are both locked out now.
    after = await store.rotate_refresh(
        session_id=sid, presented_hash=second, new_hash=new_hash(), expires_at=exp, now=later
    )
    assert after.outcome is RotateOutcome.REVOKED


async def test_unknown_session_and_unknown_token(
    store: Store, login: Login, utc_now: datetime
) -> None:
    sid, current = await _session_with_token(login)
    exp = utc_now + REFRESH_TTL
    nothing = await store.rotate_refresh(
        session_id="no-such-session",
        presented_hash=current,
        new_hash=new_hash(),
        expires_at=exp,
        now=utc_now,
    )
    assert (nothing.outcome, nothing.session) == (RotateOutcome.UNKNOWN, None)
    stranger = await store.rotate_refresh(
        session_id=sid, presented_hash=new_hash(), new_hash=new_hash(), expires_at=exp, now=utc_now
    )
    assert (stranger.outcome, stranger.session) == (RotateOutcome.UNKNOWN, None)
    # A token of another session is "unknown" here, and does not revoke either session.
    await login(APP_B, "ob")
    other_sid = login.last_session_id
    crossed = await store.rotate_refresh(
        session_id=other_sid,
        presented_hash=current,
        new_hash=new_hash(),
        expires_at=exp,
        now=utc_now,
    )
    assert crossed.outcome is RotateOutcome.UNKNOWN
    still = await store.rotate_refresh(
        session_id=sid, presented_hash=current, new_hash=new_hash(), expires_at=exp, now=utc_now
    )
    assert still.outcome is RotateOutcome.ROTATED


async def test_revoked_session(store: Store, login: Login, utc_now: datetime) -> None:
    sid, current = await _session_with_token(login)
    assert await store.revoke_session(sid, reason="logout", now=utc_now) is True
    result = await store.rotate_refresh(
        session_id=sid,
        presented_hash=current,
        new_hash=new_hash(),
        expires_at=utc_now + REFRESH_TTL,
        now=utc_now,
    )
    assert result.outcome is RotateOutcome.REVOKED
    assert result.session is not None and result.session.revoked_at == utc_now


async def test_expired_session(store: Store, login: Login, utc_now: datetime) -> None:
    sid, current = await _session_with_token(login)
    at_expiry = utc_now + REFRESH_TTL
    result = await store.rotate_refresh(
        session_id=sid,
        presented_hash=current,
        new_hash=new_hash(),
        expires_at=at_expiry + REFRESH_TTL,
        now=at_expiry,
    )
    assert result.outcome is RotateOutcome.EXPIRED
    assert result.session is not None and result.session.expires_at == at_expiry
    just_before = at_expiry - timedelta(microseconds=1)
    ok = await store.rotate_refresh(
        session_id=sid,
        presented_hash=current,
        new_hash=new_hash(),
        expires_at=at_expiry + REFRESH_TTL,
        now=just_before,
    )
    assert ok.outcome is RotateOutcome.ROTATED


async def test_concurrent_rotation_with_the_same_token(
    store: Store, login: Login, utc_now: datetime
) -> None:
    """Two refreshes racing with one token: one wins, the other is treated as reuse."""
    for attempt in range(5):
        await login(APP_A, f"racer-{attempt}")
        sid = login.last_session_id
        token = login.refresh_hashes[sid]
        results = await asyncio.gather(
            *(
                store.rotate_refresh(
                    session_id=sid,
                    presented_hash=token,
                    new_hash=new_hash(),
                    expires_at=utc_now + REFRESH_TTL,
                    now=utc_now,
                )
                for _ in range(2)
            )
        )
        outcomes = sorted(r.outcome.value for r in results)
        assert outcomes == ["reused", "rotated"]
        session = await store.get_session(sid)
        assert session is not None and session.revoked_at is not None


async def test_revoke_session(store: Store, login: Login, utc_now: datetime) -> None:
    sid, _ = await _session_with_token(login)
    assert await store.revoke_session(sid, reason="logout", now=utc_now) is True
    later = utc_now + timedelta(seconds=5)
    assert await store.revoke_session(sid, reason="again", now=later) is False  # first one stands
    session = await store.get_session(sid)
    assert session is not None and session.revoked_at == utc_now
    assert await store.revoke_session("nope", reason="logout", now=utc_now) is False


async def test_revoke_user_sessions(store: Store, login: Login, utc_now: datetime) -> None:
    user = (await login(APP_A, "oa", "u-1")).user
    first = login.last_session_id
    await login(APP_B, "ob", "u-1")
    second = login.last_session_id
    await login(APP_A, "someone-else")
    bystander = login.last_session_id
    await store.revoke_session(first, reason="logout", now=utc_now)

    later = utc_now + timedelta(seconds=1)
    revoked = await store.revoke_user_sessions(user.id, reason="admin", now=later)
    assert revoked == [second]  # the one already revoked is not revoked again
    bystanding = await store.get_session(bystander)
    assert bystanding is not None and bystanding.revoked_at is None
    assert await store.revoke_user_sessions(user.id, reason="admin", now=later) == []
    assert await store.revoke_user_sessions("nobody", reason="admin", now=later) == []


async def test_revoke_user_sessions_through_an_old_id(
    store: Store, login: Login, utc_now: datetime
) -> None:
    old = (await login(APP_A, "oa")).user
    old_session = login.last_session_id
    await login(APP_B, "ob", "u-1")
    owner_session = login.last_session_id
    await login(APP_A, "oa", "u-1")  # merge: old -> owner
    merge_session = login.last_session_id
    revoked = await store.revoke_user_sessions(old.id, reason="admin", now=utc_now)
    assert sorted(revoked) == sorted([old_session, owner_session, merge_session])


async def test_revoked_since(store: Store, login: Login, utc_now: datetime) -> None:
    sids = []
    for n in range(4):
        await login(APP_A, f"o{n}")
        sids.append(login.last_session_id)
    times = [utc_now + timedelta(seconds=n) for n in range(4)]
    for sid, at in zip(sids, times, strict=True):
        await store.revoke_session(sid, reason="logout", now=at)
    assert await store.revoked_since(times[2]) == [(sids[2], times[2]), (sids[3], times[3])]
    assert await store.revoked_since(times[0] - timedelta(microseconds=1)) == list(
        zip(sids, times, strict=True)
    )
    assert await store.revoked_since(times[3] + timedelta(microseconds=1)) == []


GRACE = timedelta(seconds=30)


async def test_a_spent_token_within_the_grace_window_is_replayed(
    store: Store, login: Login, utc_now: datetime
) -> None:
    sid, first = await _session_with_token(login)
    successor = new_hash()  # the service derives it from the token: the same both times
    exp = utc_now + REFRESH_TTL

    async def present(token: bytes, nxt: bytes, at: datetime) -> RotateResult:
        return await store.rotate_refresh(
            session_id=sid, presented_hash=token, new_hash=nxt, expires_at=exp, now=at, grace=GRACE
        )

    assert (await present(first, successor, utc_now)).outcome is RotateOutcome.ROTATED
    replay = await present(first, successor, utc_now + GRACE - timedelta(microseconds=1))
    assert replay.outcome is RotateOutcome.REPLAYED
    assert replay.session is not None and replay.session.revoked_at is None
    # Nothing changed: the successor is still the token that rotates.
    onward = await present(successor, new_hash(), utc_now + timedelta(seconds=1))
    assert onward.outcome is RotateOutcome.ROTATED


async def test_a_spent_token_after_the_grace_window_revokes(
    store: Store, login: Login, utc_now: datetime
) -> None:
    sid, first = await _session_with_token(login)
    successor = new_hash()
    exp = utc_now + REFRESH_TTL
    await store.rotate_refresh(
        session_id=sid, presented_hash=first, new_hash=successor, expires_at=exp, now=utc_now
    )
    late = await store.rotate_refresh(
        session_id=sid,
        presented_hash=first,
        new_hash=successor,
        expires_at=exp,
        now=utc_now + GRACE,
        grace=GRACE,
    )
    assert late.outcome is RotateOutcome.REUSED
    assert late.session is not None and late.session.revoked_at == utc_now + GRACE


async def test_within_the_window_a_different_successor_is_reuse(
    store: Store, login: Login, utc_now: datetime
) -> None:
    """Only the token's own successor may come back: a replay that names another (or whose
    successor has rotated on) is a stolen token, window or not."""
    sid, first = await _session_with_token(login)
    successor, onward = new_hash(), new_hash()
    exp = utc_now + REFRESH_TTL
    for presented, nxt in ((first, successor), (successor, onward)):
        result = await store.rotate_refresh(
            session_id=sid, presented_hash=presented, new_hash=nxt, expires_at=exp, now=utc_now
        )
        assert result.outcome is RotateOutcome.ROTATED
    stale = await store.rotate_refresh(
        session_id=sid,
        presented_hash=first,
        new_hash=successor,
        expires_at=exp,
        now=utc_now + timedelta(seconds=1),
        grace=GRACE,
    )
    assert stale.outcome is RotateOutcome.REUSED
