"""Identities: the login unit of work, unionid linking, and merging two users into one.

A *user* owns one or more *identities* ``(appid, openid)``. WeChat's ``unionid`` is the same
person across the apps of one Open Platform account, so it is how identities from different
apps meet: a new identity whose unionid belongs to a user joins that user, and a user who
learns a unionid already owned by another user is *merged* into it. The merged user's row stays
as a tombstone (``merged_into``) so access tokens minted with its id still resolve.

Every function is one unit of work over a ``Tx``. Losing a race (a unique key a concurrent
transaction took first, a row merged away meanwhile) raises ``Conflict``: the runner undoes the
unit and runs it again, and the retry sees the winner's row. On PostgreSQL the common logins run
in the batch function of migration 0002 instead; what it cannot do (merges) comes back here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from wxlogin.errors import NotFound, UserNotFound, WxLoginError
from wxlogin.store.records import LoginResult, User
from wxlogin.store.tx import Conflict, Row, Tx
from wxlogin.store.users import identities_of, live_row, user_record

__all__ = ["LoginParams", "learn_unionid", "login"]


@dataclass(frozen=True, slots=True)
class LoginParams:
    appid: str
    openid: str
    unionid: str | None
    session_id: str
    session_key_enc: bytes = field(repr=False)
    refresh_hash: bytes = field(repr=False)
    expires_at: datetime
    now: datetime
    # The id a new user gets (minted up front, so a batch function can use it too).
    new_user_id: str


async def login(tx: Tx, p: LoginParams) -> LoginResult:
    """Find or create the user of ``(appid, openid)`` and open a session.

    A returning user costs four statements: touch the identity, touch its user, list the
    user's identities, insert the session.
    """
    new_user = False
    user = await _touch_identity(tx, p)
    if user is None:
        user, new_user = await _first_login(tx, p)
    elif p.unionid is not None and user["unionid"] is None:
        user = await _adopt_unionid(tx, user, p.unionid, p.now)
    idents = await identities_of(tx, user["id"])
    await tx.run(
        tx.sql.insert_session,
        p.session_id,
        user["id"],
        p.appid,
        p.openid,
        p.refresh_hash,
        p.now,
        p.now,
        p.expires_at,
    )
    return LoginResult(user=user_record(tx, user, idents), new_user=new_user)


async def _touch_identity(tx: Tx, p: LoginParams) -> Row | None:
    """Stamp an existing identity's login and its user's; None for a new identity or one that
    points at a merged user (``_first_login`` sorts both out)."""
    if p.unionid is None:
        found = await tx.one(tx.sql.touch_identity, p.now, p.session_key_enc, p.appid, p.openid)
    else:
        found = await tx.one(
            tx.sql.touch_identity_with_unionid,
            p.now,
            p.session_key_enc,
            p.unionid,
            p.appid,
            p.openid,
        )
    if found is None:
        return None
    return await tx.one(tx.sql.touch_user, p.now, found["user_id"])


async def _first_login(tx: Tx, p: LoginParams) -> tuple[Row, bool]:
    """A first login of this identity, or one whose user was merged away."""
    existing = await tx.one(tx.sql.identity_owner, p.appid, p.openid)
    if existing is not None:
        # The identity points at a merged user (normally impossible: merges move identities).
        # Re-point it at the survivor.
        live = await live_row(tx, existing["user_id"])
        if live is None:
            raise WxLoginError("an identity refers to a user that does not exist")
        await tx.run(
            tx.sql.repoint_identity, live["id"], p.now, p.session_key_enc, p.appid, p.openid
        )
        user = await _touch_user(tx, live["id"], p.now)
        if p.unionid is not None and user["unionid"] is None:
            user = await _adopt_unionid(tx, user, p.unionid, p.now)
        return user, False

    owner = None if p.unionid is None else await tx.one(tx.sql.user_by_unionid, p.unionid)
    if owner is None:
        # ON CONFLICT DO NOTHING: a concurrent login that created this unionid's user makes
        # us run again (and then join it) instead of failing.
        created = await tx.one(tx.sql.insert_user, p.new_user_id, p.unionid, p.now, p.now, p.now)
        if created is None:
            raise Conflict
        user, new_user = created, True
    else:
        live = owner if owner["merged_into"] is None else await live_row(tx, owner["id"])
        if live is None:
            raise WxLoginError("users.merged_into refers to a user that does not exist")
        user, new_user = await _touch_user(tx, live["id"], p.now), False
    linked = await tx.one(
        tx.sql.insert_identity,
        p.appid,
        p.openid,
        user["id"],
        p.unionid,
        p.now,
        p.now,
        p.session_key_enc,
    )
    if linked is None:
        raise Conflict  # the same identity logged in concurrently; run again and find it
    return user, new_user


async def _touch_user(tx: Tx, user_id: str, now: datetime) -> Row:
    row = await tx.one(tx.sql.touch_user, now, user_id)
    if row is None:
        raise Conflict  # merged away since we looked
    return row


async def _adopt_unionid(tx: Tx, user: Row, unionid: str, now: datetime) -> Row:
    """Give ``user`` (which has no unionid) ``unionid``, merging if someone owns it.

    Returns the row of the user that carries on: ``user`` itself, or the owner.
    """
    owner = await tx.one(tx.sql.user_by_unionid, unionid)
    if owner is None:
        updated = await tx.one(tx.sql.adopt_unionid, unionid, now, user["id"])
        if updated is None:
            raise Conflict
        return updated
    if owner["id"] == user["id"]:
        return owner
    survivor, loser = _survivor_and_loser(tx, owner, user, unionid)
    return await _merge(tx, loser=loser, survivor=survivor, now=now)


def _survivor_and_loser(tx: Tx, a: Row, b: Row, unionid: str) -> tuple[Row, Row]:
    """Who carries on when two users turn out to be one person.

    The user that already has the unionid survives; if that does not decide it, the older one
    (then the smaller id, so every process picks the same).
    """
    a_has, b_has = a["unionid"] == unionid, b["unionid"] == unionid
    if a_has != b_has:
        return (a, b) if a_has else (b, a)
    first, second = sorted((a, b), key=lambda row: (tx.time(row["created_at"]), row["id"]))
    return first, second


async def _merge(tx: Tx, *, loser: Row, survivor: Row, now: datetime) -> Row:
    """Fold ``loser`` into ``survivor``; returns the survivor's updated row.

    Order matters on PostgreSQL: identities move first, so a login holding one of the loser's
    identities (it updates that row first) either finishes before we move it — and its new
    session is then moved by the next statement — or waits and sees the survivor.
    """
    await tx.run(tx.sql.move_identities, survivor["id"], loser["id"])
    await tx.run(tx.sql.move_sessions, survivor["id"], loser["id"])
    await tx.run(tx.sql.move_orders, survivor["id"], loser["id"])  # one person, one order list
    # Keep chains one hop long: whoever was merged into the loser now points at the survivor.
    await tx.run(tx.sql.repoint_tombstones, survivor["id"], now, loser["id"])
    updated = await tx.one(
        tx.sql.merge_into_survivor,
        loser["phone"],
        loser["pure_phone"],
        loser["phone_country_code"],
        loser["nickname"],
        loser["avatar_url"],
        _later(tx, survivor["last_login_at"], loser["last_login_at"]),
        now,
        survivor["id"],
    )
    tombstoned = await tx.run(tx.sql.tombstone, survivor["id"], now, loser["id"])
    if updated is None or tombstoned != 1:
        raise Conflict  # one of them was merged meanwhile; start again
    return updated


def _later(tx: Tx, a: object, b: object) -> datetime | None:
    times = [tx.time(value) for value in (a, b) if value is not None]
    return max(times) if times else None


async def learn_unionid(
    tx: Tx, user_id: str, *, appid: str, openid: str, unionid: str, now: datetime
) -> User:
    """Record a unionid learnt after login (e.g. from decrypted user info).

    Same rules as ``login``: a user without a unionid takes it, unless another user owns it,
    in which case the two are merged into the owner, which is returned. A user that already
    has a different unionid keeps it (WeChat never changes one). ``NotFound`` when the user or
    the identity is unknown, or the identity is someone else's.
    """
    user = await live_row(tx, user_id)
    if user is None:
        raise UserNotFound()
    identity = await tx.one(tx.sql.identity_owner, appid, openid)
    owner = None if identity is None else await live_row(tx, identity["user_id"])
    if owner is None or owner["id"] != user["id"]:
        raise NotFound("this identity does not belong to this user")
    await tx.run(tx.sql.set_identity_unionid, unionid, appid, openid)
    if user["unionid"] is None:
        user = await _adopt_unionid(tx, user, unionid, now)
    return user_record(tx, user, await identities_of(tx, user["id"]))
