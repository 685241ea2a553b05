"""The store: users, their WeChat identities, sessions and refresh-token rotation.

SQLAlchemy Core, no ORM: the login path is a handful of statements whose shape is decided
here. Every public method is one transaction; write transactions that lose a race (a unique
key taken by a concurrent login, a PostgreSQL deadlock) are retried from the start a bounded
number of times, so callers see either a result or a wxlogin error, never a driver exception.

Identity model. A *user* owns one or more *identities* ``(appid, openid)``. WeChat's
``unionid`` is the same person across apps of one Open Platform account, so it is how identities
from different apps meet: a new identity whose unionid belongs to a user joins that user, and a
user who learns a unionid already owned by another user is *merged* into it. The merged user's
row stays as a tombstone (``merged_into``) so access tokens minted with its id still resolve.

Clock. Nothing here reads the time: every method that stamps a row takes ``now`` (an aware
datetime) from the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias, TypeVar

from sqlalchemy import Row, bindparam, case, exc, func, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wxlogin.errors import NotFound, NotReady, WxLoginError
from wxlogin.store import migrate as migrations
from wxlogin.store.engine import (
    AUTOCOMMIT_READ_OPTION,
    WRITE_OPTION,
    create_engine,
    describe_url,
    map_db_error,
)
from wxlogin.store.records import (
    Identity,
    LoginResult,
    RotateOutcome,
    RotateResult,
    SessionRecord,
    User,
)
from wxlogin.store.tables import identities, sessions, used_refresh_tokens, users

__all__ = ["Store"]

T = TypeVar("T")
# A result row of any width (rows are variadic generics in SQLAlchemy 2.1).
_Row: TypeAlias = "Row[*tuple[Any, ...]]"

# Attempts of one write transaction before a persistent conflict becomes an error. Each retry
# follows a conflict with a transaction that has committed, so the next attempt sees its row.
MAX_ATTEMPTS: Final = 8
# Longest merged_into chain followed (merges flatten chains, so 1 is the norm).
MAX_MERGE_HOPS: Final = 16
# PostgreSQL SQLSTATEs worth retrying: deadlock detected, serialization failure.
_RETRY_SQLSTATES: Final = frozenset({"40P01", "40001"})
# Advisory lock key held while migrating PostgreSQL, so two workers never migrate at once.
_MIGRATION_LOCK_KEY: Final = 0x77786C6F67696E  # "wxlogin"
REFRESH_REUSED: Final = "refresh_reused"

_USER_COLUMNS: Final = (
    users.c.id,
    users.c.unionid,
    users.c.phone,
    users.c.pure_phone,
    users.c.phone_country_code,
    users.c.nickname,
    users.c.avatar_url,
    users.c.merged_into,
    users.c.created_at,
    users.c.last_login_at,
)
_SESSION_COLUMNS: Final = (
    sessions.c.id,
    sessions.c.user_id,
    sessions.c.appid,
    sessions.c.openid,
    sessions.c.created_at,
    sessions.c.last_used_at,
    sessions.c.expires_at,
    sessions.c.revoked_at,
)


# ------------------------------------------------------------------ prebuilt statements
#
# The hot paths (login, get_user, get_session, rotate_refresh) execute these statement objects
# with parameters instead of building a fresh expression tree per call: SQLAlchemy's compiled
# cache is hit either way, but constructing and coercing the tree was most of its cost (and
# the CTE rebuilt its column collection every time). Parameters are named ``p_*`` so they
# never clash with the column names SQLAlchemy reserves in SET/VALUES clauses.


def _param(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


_P_APPID: Final = _param("p_appid", identities.c.appid)
_P_OPENID: Final = _param("p_openid", identities.c.openid)
_P_UNIONID: Final = _param("p_unionid", identities.c.unionid)
_P_NOW: Final = _param("p_now", users.c.last_login_at)
_P_SESSION_KEY: Final = _param("p_session_key_enc", identities.c.session_key_enc)
_P_USER_ID: Final = _param("p_user_id", users.c.id)
_P_SESSION_ID: Final = _param("p_session_id", sessions.c.id)

_IDENTITY_IS: Final = (identities.c.appid == _P_APPID, identities.c.openid == _P_OPENID)


def _touch_identity_statement(with_unionid: bool) -> Any:
    values: dict[str, Any] = {"last_login_at": _P_NOW, "session_key_enc": _P_SESSION_KEY}
    if with_unionid:
        values["unionid"] = _P_UNIONID
    return update(identities).where(*_IDENTITY_IS).values(**values).returning(identities.c.user_id)


# Keyed by "a unionid is given" (it is only written when WeChat sent one).
_TOUCH_IDENTITY: Final = {flag: _touch_identity_statement(flag) for flag in (False, True)}


def _touch_identity_and_user_statement(with_unionid: bool) -> Any:
    """PostgreSQL: update the identity and its user in one data-modifying CTE."""
    touched = _TOUCH_IDENTITY[with_unionid].cte("touched")
    return (
        update(users)
        .where(users.c.id == touched.c.user_id, users.c.merged_into.is_(None))
        .values(last_login_at=_P_NOW)
        .returning(*_USER_COLUMNS)
    )


_TOUCH_IDENTITY_AND_USER: Final = {
    flag: _touch_identity_and_user_statement(flag) for flag in (False, True)
}
_TOUCH_USER: Final = (
    update(users)
    .where(users.c.id == _P_USER_ID, users.c.merged_into.is_(None))
    .values(last_login_at=_P_NOW)
    .returning(*_USER_COLUMNS)
)
_IDENTITIES_OF: Final = (
    select(identities.c.appid, identities.c.openid)
    .where(identities.c.user_id == _P_USER_ID)
    .order_by(identities.c.created_at, identities.c.appid, identities.c.openid)
)
_LOAD_USER: Final = (
    select(*_USER_COLUMNS, identities.c.appid, identities.c.openid)
    .select_from(users.outerjoin(identities, identities.c.user_id == users.c.id))
    .where(users.c.id == _P_USER_ID)
    .order_by(identities.c.created_at, identities.c.appid, identities.c.openid)
)
_USER_BY_ID: Final = select(*_USER_COLUMNS).where(users.c.id == _P_USER_ID)
_USER_BY_UNIONID: Final = select(*_USER_COLUMNS).where(users.c.unionid == _P_UNIONID)
_IDENTITY_OWNER: Final = select(identities.c.user_id).where(*_IDENTITY_IS)
_INSERT_SESSION: Final = sessions.insert().values(
    id=_P_SESSION_ID,
    user_id=_P_USER_ID,
    appid=_P_APPID,
    openid=_P_OPENID,
    refresh_hash=_param("p_refresh_hash", sessions.c.refresh_hash),
    created_at=_P_NOW,
    last_used_at=_P_NOW,
    expires_at=_param("p_expires_at", sessions.c.expires_at),
)


def _insert_user_statement(insert: Any) -> Any:
    # ON CONFLICT DO NOTHING: a concurrent login that created this unionid's user makes us
    # retry (and then join it) instead of aborting the transaction.
    return (
        insert(users)
        .values(
            id=_P_USER_ID,
            unionid=_param("p_unionid", users.c.unionid),
            created_at=_P_NOW,
            updated_at=_P_NOW,
            last_login_at=_P_NOW,
        )
        .on_conflict_do_nothing()
        .returning(*_USER_COLUMNS)
    )


def _insert_identity_statement(insert: Any) -> Any:
    return (
        insert(identities)
        .values(
            appid=_P_APPID,
            openid=_P_OPENID,
            user_id=_P_USER_ID,
            unionid=_P_UNIONID,
            created_at=_P_NOW,
            last_login_at=_P_NOW,
            session_key_enc=_P_SESSION_KEY,
        )
        .on_conflict_do_nothing()
        .returning(identities.c.appid)
    )


_INSERT_USER: Final = {
    "sqlite": _insert_user_statement(sqlite.insert),
    "postgresql": _insert_user_statement(postgresql.insert),
}
_INSERT_IDENTITY: Final = {
    "sqlite": _insert_identity_statement(sqlite.insert),
    "postgresql": _insert_identity_statement(postgresql.insert),
}
_GET_SESSION: Final = (
    select(*_SESSION_COLUMNS, identities.c.session_key_enc)
    .select_from(
        sessions.outerjoin(
            identities,
            (identities.c.appid == sessions.c.appid) & (identities.c.openid == sessions.c.openid),
        )
    )
    .where(sessions.c.id == _P_SESSION_ID)
)
_P_PRESENTED_HASH: Final = _param("p_presented_hash", sessions.c.refresh_hash)
_SWAP_REFRESH: Final = (
    update(sessions)
    .where(
        sessions.c.id == _P_SESSION_ID,
        sessions.c.refresh_hash == _P_PRESENTED_HASH,
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > _P_NOW,
    )
    .values(
        refresh_hash=_param("p_new_hash", sessions.c.refresh_hash),
        last_used_at=_P_NOW,
        expires_at=_param("p_expires_at", sessions.c.expires_at),
    )
    .returning(*_SESSION_COLUMNS)
)
_RECORD_USED_REFRESH: Final = used_refresh_tokens.insert().values(
    token_hash=_P_PRESENTED_HASH, session_id=_P_SESSION_ID, used_at=_P_NOW
)
_SESSION_BY_ID: Final = select(*_SESSION_COLUMNS).where(sessions.c.id == _P_SESSION_ID)
_USED_REFRESH: Final = select(used_refresh_tokens.c.session_id).where(
    used_refresh_tokens.c.token_hash == _P_PRESENTED_HASH,
    used_refresh_tokens.c.session_id == _P_SESSION_ID,
)
_REVOKE_REUSED: Final = (
    update(sessions)
    .where(sessions.c.id == _P_SESSION_ID)
    .values(
        revoked_at=func.coalesce(sessions.c.revoked_at, _P_NOW),
        revoked_reason=func.coalesce(
            sessions.c.revoked_reason, _param("p_reason", sessions.c.revoked_reason)
        ),
    )
    .returning(*_SESSION_COLUMNS)
)


class _Conflict(Exception):
    """A concurrent transaction got there first; roll back and run the whole thing again."""


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), not a naive one")
    return value.astimezone(UTC)


def _user(row: _Row, idents: Sequence[Identity]) -> User:
    return User(
        id=row.id,
        unionid=row.unionid,
        identities=tuple(idents),
        phone=row.phone,
        pure_phone=row.pure_phone,
        phone_country_code=row.phone_country_code,
        nickname=row.nickname,
        avatar_url=row.avatar_url,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _session(row: _Row, session_key_enc: bytes | None = None) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        appid=row.appid,
        openid=row.openid,
        session_key_enc=session_key_enc,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


class Store:
    """Async access to the wxlogin database. Build with ``Store.from_url``; ``aclose`` after."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._url = describe_url(engine.url)
        self._dialect = engine.dialect.name
        self._sqlite = self._dialect == "sqlite"
        self._writes = engine.execution_options(**{WRITE_OPTION: True})
        # Reads run without a transaction (each statement sees committed data): it saves the
        # BEGIN/ROLLBACK round trips. Reads of more than one statement (following a merge,
        # a page of users and their identities) tolerate a commit landing in between.
        self._reads = (
            engine.execution_options(**{AUTOCOMMIT_READ_OPTION: True})
            if self._sqlite
            else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # SQLite has one writer; queue this process's writers here rather than in SQLite's
        # busy handler, which sleeps in steps. Other processes are held off by BEGIN IMMEDIATE.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self._sqlite else None
        self._insert_user = _INSERT_USER[self._dialect]
        self._insert_identity = _INSERT_IDENTITY[self._dialect]

    @classmethod
    def from_url(cls, url: str) -> Store:
        """A store on ``url`` (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``, or the
        plain ``postgres://`` / ``postgresql://`` / ``sqlite://`` forms)."""
        return cls(create_engine(url))

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    def __repr__(self) -> str:
        return f"Store({self._url!r})"

    # ------------------------------------------------------------------ plumbing

    def _error(self, error: BaseException) -> WxLoginError:
        return map_db_error(error, url=self._url)

    @contextlib.asynccontextmanager
    async def _writer(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def _write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in a write transaction, retrying it when it loses a race."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._writer(), self._writes.begin() as conn:
                    return await work(conn)
            except _Conflict:
                if attempt == MAX_ATTEMPTS:
                    break
            except exc.DBAPIError as error:
                if not self._retryable(error):
                    raise self._error(error) from error
                if attempt == MAX_ATTEMPTS:
                    raise NotReady(
                        "the database write kept conflicting with concurrent writes; retry"
                    ) from error
            except (exc.SQLAlchemyError, OSError) as error:
                raise self._error(error) from error
        raise NotReady("the database write kept conflicting with concurrent writes; retry")

    def _retryable(self, error: exc.DBAPIError) -> bool:
        if self._sqlite:
            # Whole write transactions are serialised (lock + BEGIN IMMEDIATE): nothing
            # here is a lost race, so a retry could only fail the same way.
            return False
        if isinstance(error, exc.IntegrityError):
            return True  # a unique key a concurrent transaction took first
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return sqlstate in _RETRY_SQLSTATES

    async def _read(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        try:
            async with self._reads.connect() as conn:
                return await work(conn)
        except (exc.SQLAlchemyError, OSError) as error:
            raise self._error(error) from error

    # ------------------------------------------------------------------ lifecycle

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (``alembic upgrade head``); idempotent."""

        async def work(conn: AsyncConnection) -> None:
            if not self._sqlite:
                # Workers starting together: one migrates, the rest wait and find it done.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            await conn.run_sync(migrations.upgrade)

        await self._write(work)

    async def current_revision(self) -> str | None:
        """The schema revision of the database; None before the first ``migrate``."""

        async def work(conn: AsyncConnection) -> str | None:
            return await conn.run_sync(migrations.current_revision)

        return await self._read(work)

    async def ping(self) -> bool:
        """True when the database answers a trivial query (readiness probes)."""
        try:
            async with self._reads.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (exc.SQLAlchemyError, OSError):
            return False
        return True

    async def aclose(self) -> None:
        await self._engine.dispose()

    # ------------------------------------------------------------------ shared steps

    async def _identities_of(self, conn: AsyncConnection, user_id: str) -> list[Identity]:
        result = await conn.execute(_IDENTITIES_OF, {"p_user_id": user_id})
        return [Identity(appid, openid) for appid, openid in result]

    async def _load_user(self, conn: AsyncConnection, user_id: str) -> User | None:
        """The live user ``user_id`` resolves to, identities included (one query per hop)."""
        for _ in range(MAX_MERGE_HOPS):
            rows = (await conn.execute(_LOAD_USER, {"p_user_id": user_id})).all()
            if not rows:
                return None
            first = rows[0]
            if first.merged_into is None:
                idents = [Identity(r.appid, r.openid) for r in rows if r.appid is not None]
                return _user(first, idents)
            user_id = first.merged_into
        raise WxLoginError("users.merged_into forms a chain that is too long or a cycle")

    async def _live_row(self, conn: AsyncConnection, user_id: str) -> _Row | None:
        """The row of the live user ``user_id`` resolves to (following merges)."""
        for _ in range(MAX_MERGE_HOPS):
            row = (await conn.execute(_USER_BY_ID, {"p_user_id": user_id})).first()
            if row is None or row.merged_into is None:
                return row
            user_id = row.merged_into
        raise WxLoginError("users.merged_into forms a chain that is too long or a cycle")

    async def _touch_user(self, conn: AsyncConnection, user_id: str, now: datetime) -> _Row:
        row = (await conn.execute(_TOUCH_USER, {"p_user_id": user_id, "p_now": now})).first()
        if row is None:
            raise _Conflict  # merged away since we looked
        return row

    async def _touch_identity(
        self,
        conn: AsyncConnection,
        appid: str,
        openid: str,
        unionid: str | None,
        session_key_enc: bytes,
        now: datetime,
    ) -> _Row | None:
        """Stamp an existing identity's login; with PostgreSQL also its user, in one statement.

        Returns the (live) user row, or None when the identity is new or points at a merged
        user (the slow path sorts both out).
        """
        params: dict[str, Any] = {
            "p_appid": appid,
            "p_openid": openid,
            "p_now": now,
            "p_session_key_enc": session_key_enc,
        }
        with_unionid = unionid is not None
        if with_unionid:
            params["p_unionid"] = unionid
        if not self._sqlite:
            # One round trip: update the identity and its user together (data-modifying CTE).
            return (await conn.execute(_TOUCH_IDENTITY_AND_USER[with_unionid], params)).first()
        found = (await conn.execute(_TOUCH_IDENTITY[with_unionid], params)).first()
        if found is None:
            return None
        return (await conn.execute(_TOUCH_USER, {"p_user_id": found.user_id, "p_now": now})).first()

    async def _adopt_unionid(
        self, conn: AsyncConnection, user: _Row, unionid: str, now: datetime
    ) -> _Row:
        """Give ``user`` (which has no unionid) ``unionid``, merging if someone owns it.

        Returns the row of the user that carries on: ``user`` itself, or the owner.
        """
        owner = (await conn.execute(_USER_BY_UNIONID, {"p_unionid": unionid})).first()
        if owner is None:
            updated = (
                await conn.execute(
                    update(users)
                    .where(users.c.id == user.id, users.c.unionid.is_(None))
                    .values(unionid=unionid, updated_at=now)
                    .returning(*_USER_COLUMNS)
                )
            ).first()
            if updated is None:
                raise _Conflict
            return updated
        if owner.id == user.id:
            return owner
        survivor, loser = _survivor_and_loser(owner, user, unionid)
        return await self._merge(conn, loser=loser, survivor=survivor, now=now)

    async def _merge(
        self, conn: AsyncConnection, *, loser: _Row, survivor: _Row, now: datetime
    ) -> _Row:
        """Fold ``loser`` into ``survivor``; returns the survivor's updated row.

        Order matters on PostgreSQL: identities move first, so a login holding one of the
        loser's identities (it updates that row first) either finishes before we move it —
        and its new session is then moved by the next statement — or waits and sees the
        survivor.
        """
        await conn.execute(
            update(identities).where(identities.c.user_id == loser.id).values(user_id=survivor.id)
        )
        await conn.execute(
            update(sessions).where(sessions.c.user_id == loser.id).values(user_id=survivor.id)
        )
        # Keep chains one hop long: whoever was merged into the loser now points at the survivor.
        await conn.execute(
            update(users)
            .where(users.c.merged_into == loser.id)
            .values(merged_into=survivor.id, updated_at=now)
        )
        # The survivor keeps its own profile; only empty fields are filled from the loser.
        # The phone moves as one unit, decided on the row as it is now (CASE, not Python).
        phone_missing = users.c.phone.is_(None)
        updated = (
            await conn.execute(
                update(users)
                .where(users.c.id == survivor.id, users.c.merged_into.is_(None))
                .values(
                    phone=func.coalesce(users.c.phone, loser.phone),
                    pure_phone=_case(phone_missing, loser.pure_phone, users.c.pure_phone),
                    phone_country_code=_case(
                        phone_missing, loser.phone_country_code, users.c.phone_country_code
                    ),
                    nickname=func.coalesce(users.c.nickname, loser.nickname),
                    avatar_url=func.coalesce(users.c.avatar_url, loser.avatar_url),
                    last_login_at=_later(survivor.last_login_at, loser.last_login_at),
                    updated_at=now,
                )
                .returning(*_USER_COLUMNS)
            )
        ).first()
        tombstoned = await conn.execute(
            update(users)
            .where(users.c.id == loser.id, users.c.merged_into.is_(None))
            .values(merged_into=survivor.id, updated_at=now)
        )
        if updated is None or tombstoned.rowcount != 1:
            raise _Conflict  # one of them was merged meanwhile; start again
        return updated

    # ------------------------------------------------------------------ login

    async def login(
        self,
        *,
        appid: str,
        openid: str,
        unionid: str | None,
        session_id: str,
        session_key_enc: bytes,
        refresh_hash: bytes,
        expires_at: datetime,
        now: datetime,
    ) -> LoginResult:
        """Find or create the user for ``(appid, openid)`` and open a session, atomically.

        A returning user costs three statements on PostgreSQL (touch identity+user, list
        identities, insert session) and four on SQLite, plus the commit.
        """
        now = _aware(now, "now")
        expires_at = _aware(expires_at, "expires_at")

        async def work(conn: AsyncConnection) -> LoginResult:
            new_user = False
            user = await self._touch_identity(conn, appid, openid, unionid, session_key_enc, now)
            if user is None:
                user, new_user = await self._login_slow(
                    conn, appid, openid, unionid, session_key_enc, now
                )
            elif unionid is not None and user.unionid is None:
                user = await self._adopt_unionid(conn, user, unionid, now)
            idents = await self._identities_of(conn, user.id)
            await conn.execute(
                _INSERT_SESSION,
                {
                    "p_session_id": session_id,
                    "p_user_id": user.id,
                    "p_appid": appid,
                    "p_openid": openid,
                    "p_refresh_hash": refresh_hash,
                    "p_now": now,
                    "p_expires_at": expires_at,
                },
            )
            return LoginResult(user=_user(user, idents), new_user=new_user)

        return await self._write(work)

    async def _login_slow(
        self,
        conn: AsyncConnection,
        appid: str,
        openid: str,
        unionid: str | None,
        session_key_enc: bytes,
        now: datetime,
    ) -> tuple[_Row, bool]:
        """A first login of this identity, or one whose user was merged away."""
        existing = (
            await conn.execute(_IDENTITY_OWNER, {"p_appid": appid, "p_openid": openid})
        ).first()
        if existing is not None:
            # The identity points at a merged user (normally impossible: merges move
            # identities). Re-point it at the survivor.
            live = await self._live_row(conn, existing.user_id)
            if live is None:
                raise WxLoginError("an identity refers to a user that does not exist")
            await conn.execute(
                update(identities)
                .where(identities.c.appid == appid, identities.c.openid == openid)
                .values(user_id=live.id, last_login_at=now, session_key_enc=session_key_enc)
            )
            user = await self._touch_user(conn, live.id, now)
            if unionid is not None and user.unionid is None:
                user = await self._adopt_unionid(conn, user, unionid, now)
            return user, False

        owner = None
        if unionid is not None:
            owner = (await conn.execute(_USER_BY_UNIONID, {"p_unionid": unionid})).first()
        new_user = owner is None
        if owner is None:
            # ON CONFLICT DO NOTHING: a concurrent login that created this unionid's user
            # makes us retry (and then join it) instead of aborting the transaction.
            created = (
                await conn.execute(
                    self._insert_user,
                    {"p_user_id": secrets.token_urlsafe(12), "p_unionid": unionid, "p_now": now},
                )
            ).first()
            if created is None:
                raise _Conflict
            user = created
        else:
            live = owner if owner.merged_into is None else await self._live_row(conn, owner.id)
            if live is None:
                raise WxLoginError("users.merged_into refers to a user that does not exist")
            user = await self._touch_user(conn, live.id, now)
        linked = (
            await conn.execute(
                self._insert_identity,
                {
                    "p_appid": appid,
                    "p_openid": openid,
                    "p_user_id": user.id,
                    "p_unionid": unionid,
                    "p_now": now,
                    "p_session_key_enc": session_key_enc,
                },
            )
        ).first()
        if linked is None:
            raise _Conflict  # the same identity logged in concurrently; retry and find it
        return user, new_user

    # ------------------------------------------------------------------ users

    async def get_user(self, user_id: str) -> User | None:
        """The user ``user_id`` refers to, following merges (an old id yields the survivor)."""

        async def work(conn: AsyncConnection) -> User | None:
            return await self._load_user(conn, user_id)

        return await self._read(work)

    async def list_users(self, *, limit: int = 50, offset: int = 0) -> list[User]:
        """Live (not merged) users, newest first; two queries whatever the page size."""

        async def work(conn: AsyncConnection) -> list[User]:
            rows = (
                await conn.execute(
                    select(*_USER_COLUMNS)
                    .where(users.c.merged_into.is_(None))
                    .order_by(users.c.created_at.desc(), users.c.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
            if not rows:
                return []
            by_user: dict[str, list[Identity]] = {row.id: [] for row in rows}
            idents = await conn.execute(
                select(identities.c.user_id, identities.c.appid, identities.c.openid)
                .where(identities.c.user_id.in_(list(by_user)))
                .order_by(identities.c.created_at, identities.c.appid, identities.c.openid)
            )
            for ident in idents:
                by_user[ident.user_id].append(Identity(ident.appid, ident.openid))
            return [_user(row, by_user[row.id]) for row in rows]

        return await self._read(work)

    async def _update_user(self, user_id: str, values: dict[str, Any], now: datetime) -> User:
        async def work(conn: AsyncConnection) -> User:
            live = await self._live_row(conn, user_id)
            if live is None:
                raise NotFound("no such user")
            if values:
                row = (
                    await conn.execute(
                        update(users)
                        .where(users.c.id == live.id, users.c.merged_into.is_(None))
                        .values(**values, updated_at=now)
                        .returning(*_USER_COLUMNS)
                    )
                ).first()
                if row is None:
                    raise _Conflict
                live = row
            return _user(live, await self._identities_of(conn, live.id))

        return await self._write(work)

    async def set_phone(
        self, user_id: str, *, phone: str, pure_phone: str, country_code: str, now: datetime
    ) -> User:
        """Record the user's WeChat-verified phone number; ``NotFound`` for an unknown user."""
        values = {"phone": phone, "pure_phone": pure_phone, "phone_country_code": country_code}
        return await self._update_user(user_id, values, _aware(now, "now"))

    async def update_profile(
        self,
        user_id: str,
        *,
        nickname: str | None = None,
        avatar_url: str | None = None,
        now: datetime,
    ) -> User:
        """Change nickname and/or avatar; ``None`` leaves a field as it is."""
        values: dict[str, Any] = {}
        if nickname is not None:
            values["nickname"] = nickname
        if avatar_url is not None:
            values["avatar_url"] = avatar_url
        return await self._update_user(user_id, values, _aware(now, "now"))

    async def learn_unionid(
        self, user_id: str, *, appid: str, openid: str, unionid: str, now: datetime
    ) -> User:
        """Record a unionid learnt after login (e.g. from decrypted user info).

        Same rules as ``login``: a user without a unionid takes it, unless another user owns
        it, in which case the two are merged into the owner, which is returned. A user that
        already has a different unionid keeps it (WeChat never changes one). ``NotFound``
        when the user or the identity is unknown, or the identity is someone else's.
        """
        now = _aware(now, "now")

        async def work(conn: AsyncConnection) -> User:
            user = await self._live_row(conn, user_id)
            if user is None:
                raise NotFound("no such user")
            identity = (
                await conn.execute(
                    select(identities.c.user_id).where(
                        identities.c.appid == appid, identities.c.openid == openid
                    )
                )
            ).first()
            owner = None if identity is None else await self._live_row(conn, identity.user_id)
            if owner is None or owner.id != user.id:
                raise NotFound("this identity does not belong to this user")
            await conn.execute(
                update(identities)
                .where(identities.c.appid == appid, identities.c.openid == openid)
                .values(unionid=unionid)
            )
            if user.unionid is None:
                user = await self._adopt_unionid(conn, user, unionid, now)
            return _user(user, await self._identities_of(conn, user.id))

        return await self._write(work)

    # ------------------------------------------------------------------ sessions

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, with its identity's current sealed session_key."""

        async def work(conn: AsyncConnection) -> SessionRecord | None:
            row = (await conn.execute(_GET_SESSION, {"p_session_id": session_id})).first()
            return None if row is None else _session(row, row.session_key_enc)

        return await self._read(work)

    async def rotate_refresh(
        self,
        *,
        session_id: str,
        presented_hash: bytes,
        new_hash: bytes,
        expires_at: datetime,
        now: datetime,
    ) -> RotateResult:
        """Swap the session's refresh token for a new one, detecting reuse of an old one.

        The swap is a compare-and-set on the current hash, so of two concurrent rotations
        with the same token exactly one wins; the other then finds the token among the used
        ones and revokes the session (``REUSED``): a refresh token is good exactly once.
        """
        now = _aware(now, "now")
        expires_at = _aware(expires_at, "expires_at")

        async def work(conn: AsyncConnection) -> RotateResult:
            params = {
                "p_session_id": session_id,
                "p_presented_hash": presented_hash,
                "p_now": now,
            }
            swapped = (
                await conn.execute(
                    _SWAP_REFRESH, {**params, "p_new_hash": new_hash, "p_expires_at": expires_at}
                )
            ).first()
            if swapped is not None:
                await conn.execute(_RECORD_USED_REFRESH, params)
                return RotateResult(RotateOutcome.ROTATED, _session(swapped))
            current = (await conn.execute(_SESSION_BY_ID, {"p_session_id": session_id})).first()
            if current is None:
                return RotateResult(RotateOutcome.UNKNOWN, None)
            if current.revoked_at is not None:
                return RotateResult(RotateOutcome.REVOKED, _session(current))
            if current.expires_at <= now:
                return RotateResult(RotateOutcome.EXPIRED, _session(current))
            used = (
                await conn.execute(
                    _USED_REFRESH,
                    {"p_session_id": session_id, "p_presented_hash": presented_hash},
                )
            ).first()
            if used is None:
                return RotateResult(RotateOutcome.UNKNOWN, None)
            revoked = (
                await conn.execute(
                    _REVOKE_REUSED,
                    {"p_session_id": session_id, "p_now": now, "p_reason": REFRESH_REUSED},
                )
            ).one()
            return RotateResult(RotateOutcome.REUSED, _session(revoked))

        return await self._write(work)

    async def revoke_session(self, session_id: str, *, reason: str, now: datetime) -> bool:
        """Revoke one session; True when this call revoked it (False: unknown or already)."""
        now = _aware(now, "now")

        async def work(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
            return result.rowcount == 1

        return await self._write(work)

    async def revoke_user_sessions(self, user_id: str, *, reason: str, now: datetime) -> list[str]:
        """Revoke every live session of the user (following merges); the ids revoked."""
        now = _aware(now, "now")

        async def work(conn: AsyncConnection) -> list[str]:
            live = await self._live_row(conn, user_id)
            if live is None:
                return []
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.user_id == live.id, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
                .returning(sessions.c.id)
            )
            return sorted(row.id for row in result)

        return await self._write(work)

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Sessions revoked at or after ``since``, oldest first, as (id, revoked_at).

        Inclusive, so a poller that passes the last ``revoked_at`` it saw misses nothing
        revoked in the same microsecond (and sees that one again, harmlessly).
        """
        since = _aware(since, "since")

        async def work(conn: AsyncConnection) -> list[tuple[str, datetime]]:
            result = await conn.execute(
                select(sessions.c.id, sessions.c.revoked_at)
                .where(sessions.c.revoked_at >= since)
                .order_by(sessions.c.revoked_at, sessions.c.id)
            )
            return [(row.id, row.revoked_at) for row in result]

        return await self._read(work)


def _survivor_and_loser(a: _Row, b: _Row, unionid: str) -> tuple[_Row, _Row]:
    """Who carries on when two users turn out to be one person.

    The user that already has the unionid survives; if that does not decide it, the older one
    (then the smaller id, so every process picks the same).
    """
    a_has, b_has = a.unionid == unionid, b.unionid == unionid
    if a_has != b_has:
        return (a, b) if a_has else (b, a)
    first, second = sorted((a, b), key=lambda row: (row.created_at, row.id))
    return first, second


def _case(condition: Any, then: str | None, otherwise: Any) -> Any:
    """``CASE WHEN condition THEN :then ELSE otherwise END`` for a text column."""
    return case((condition, literal(then, users.c.phone.type)), else_=otherwise)
