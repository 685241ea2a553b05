"""PostgreSQL on asyncpg, with logins and refreshes group-committed in one round trip.

* Logins, refreshes and logouts join a ``Batcher``: each batch is one statement — a call to
  ``wxlogin_login_batch`` / ``wxlogin_rotate_batch`` (migration 0002) or one ``UPDATE`` — so one
  round trip and one commit (one WAL flush) serve up to ``MAX_BATCH`` requests. A deadlock or
  serialization failure aborts the call and it runs again, whole (counted in ``StoreStats``).
* Everything else (merges the batch function hands back, profile changes, admin) runs the
  shared logic of ``identities`` / ``sessions`` / ``users`` in a transaction of its own, one
  round trip per statement, retried when it loses a race.
* The pool is created on first use, inside the running event loop. No pre-ping: a dead
  connection fails one request and is replaced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias, TypeVar

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from wxlogin.errors import NotReady, WxLoginError
from wxlogin.store import identities
from wxlogin.store.batch import Batcher
from wxlogin.store.failures import is_retryable_conflict, map_db_error, unit_failure
from wxlogin.store.identities import LoginParams
from wxlogin.store.records import (
    Identity,
    LoginResult,
    RotateOutcome,
    RotateResult,
    SessionRecord,
    User,
)
from wxlogin.store.sessions import RotateParams
from wxlogin.store.sql import POSTGRES, Statements
from wxlogin.store.target import DatabaseTarget
from wxlogin.store.tx import Conflict, Row, StoreStats

__all__ = ["PostgresBackend"]

T = TypeVar("T")
# A connection as the pool lends it (generic in asyncpg's stubs only, hence the string).
Connection: TypeAlias = "PoolConnectionProxy[Record]"

POOL_SIZE: Final = 10
CONNECT_TIMEOUT: Final = 5.0
MAX_ATTEMPTS: Final = 8
# Units per batch call. Each unit is a subtransaction; PostgreSQL caches 64 subtransaction ids
# per transaction and past that every snapshot taken on the server gets slower, so stay below.
MAX_BATCH: Final = 32
# Batches of one kind in flight per process: while one commits, the next one fills.
MAX_IN_FLIGHT: Final = 2
_LOGIN_BATCH: Final = (
    "SELECT * FROM wxlogin_login_batch($1::text[], $2::text[], $3::text[], $4::text[], "
    "$5::bytea[], $6::bytea[], $7::timestamptz[], $8::timestamptz[], $9::text[])"
)
_ROTATE_BATCH: Final = (
    "SELECT * FROM wxlogin_rotate_batch($1::text[], $2::bytea[], $3::bytea[], "
    "$4::timestamptz[], $5::timestamptz[], $6::float8[])"
)
_REVOKE_BATCH: Final = (
    "UPDATE sessions SET revoked_at = v.at, revoked_reason = v.reason "
    "FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS v(id, at, reason) "
    "WHERE sessions.id = v.id AND sessions.revoked_at IS NULL RETURNING sessions.id"
)
_OUTCOMES: Final = {outcome.value: outcome for outcome in RotateOutcome}
# What the driver raises: the server's errors, and its own. ``InternalClientError`` is not an
# ``InterfaceError``: a pooled connection the server killed while it sat idle can raise it on
# its next use ("cannot switch to state ..."), and that must be a 503 like any lost connection.
_DRIVER_ERRORS: Final = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


class PgTx:
    """``Tx`` on one asyncpg connection: each call one round trip."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def sql(self) -> Statements:
        return POSTGRES

    async def one(self, statement: str, *args: Any) -> Row | None:
        row: Row | None = await self._conn.fetchrow(statement, *args)
        return row

    async def all(self, statement: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(statement, *args))

    async def run(self, statement: str, *args: Any) -> int:
        status: str = await self._conn.execute(statement, *args)
        # "UPDATE 3", "INSERT 0 1": the count is the last word.
        count = status.rpartition(" ")[2]
        return int(count) if count.isdigit() else 0

    def time(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value if value.tzinfo is UTC else value.astimezone(UTC)


class PostgresBackend:
    dialect: Final = "postgresql"

    def __init__(self, target: DatabaseTarget, stats: StoreStats) -> None:
        self._target = target
        self._stats = stats
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._logins: Batcher[LoginParams, LoginResult | None] = Batcher(
            self._login_batch, max_size=MAX_BATCH, max_in_flight=MAX_IN_FLIGHT, kind="login"
        )
        self._rotations: Batcher[RotateParams, RotateResult] = Batcher(
            self._rotate_batch, max_size=MAX_BATCH, max_in_flight=MAX_IN_FLIGHT, kind="rotate"
        )
        self._revocations: Batcher[tuple[str, datetime, str], bool] = Batcher(
            self._revoke_batch, max_size=4 * MAX_BATCH, max_in_flight=MAX_IN_FLIGHT, kind="revoke"
        )

    # ------------------------------------------------------------------ connections

    async def _connections(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._target.dsn,
                    min_size=1,
                    max_size=POOL_SIZE,
                    timeout=CONNECT_TIMEOUT,
                    server_settings=dict(self._target.server_settings) or None,
                )
        return self._pool

    def _error(self, error: BaseException) -> WxLoginError:
        return map_db_error(error, where=self._target.display)

    async def _call(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run one statement's worth of work, again (whole) after a deadlock."""
        for _ in range(MAX_ATTEMPTS):
            try:
                pool = await self._connections()
                async with pool.acquire() as conn:
                    return await work(conn)
            except _DRIVER_ERRORS as error:
                if not is_retryable_conflict(error):
                    raise self._error(error) from error
                self._stats.deadlock_retries += 1
        raise NotReady("the database write kept conflicting with concurrent writes; retry")

    # ------------------------------------------------------------------ shared logic

    async def write(self, work: Callable[[PgTx], Awaitable[T]]) -> T:
        """``work`` in a transaction of its own, run again when it loses a race."""
        for _ in range(MAX_ATTEMPTS):
            try:
                pool = await self._connections()
                async with pool.acquire() as conn, conn.transaction():
                    return await work(PgTx(conn))
            except Conflict:
                self._stats.conflict_retries += 1
            except asyncpg.UniqueViolationError:
                self._stats.conflict_retries += 1  # a key a concurrent transaction took first
            except _DRIVER_ERRORS as error:
                if not is_retryable_conflict(error):
                    raise self._error(error) from error
                self._stats.deadlock_retries += 1
        raise NotReady("the database write kept conflicting with concurrent writes; retry")

    async def read(self, work: Callable[[PgTx], Awaitable[T]]) -> T:
        """``work`` on a connection in autocommit: each statement sees committed data."""
        try:
            pool = await self._connections()
            async with pool.acquire() as conn:
                return await work(PgTx(conn))
        except _DRIVER_ERRORS as error:
            raise self._error(error) from error

    # ------------------------------------------------------------------ batched writes

    async def login(self, params: LoginParams) -> LoginResult:
        result = await self._logins.submit(params)
        if result is None:
            # A merge, or a unit that kept losing races: the general logic, on its own.
            self._stats.general_path_logins += 1
            return await self.write(lambda tx: identities.login(tx, params))
        return result

    async def rotate(self, params: RotateParams) -> RotateResult:
        return await self._rotations.submit(params)

    async def revoke_session(self, session_id: str, reason: str, now: datetime) -> bool:
        return await self._revocations.submit((session_id, now, reason))

    async def _login_batch(
        self, units: Sequence[LoginParams]
    ) -> list[LoginResult | BaseException | None]:
        rows = await self._call(
            lambda conn: conn.fetch(
                _LOGIN_BATCH,
                [u.appid for u in units],
                [u.openid for u in units],
                [u.unionid for u in units],
                [u.session_id for u in units],
                [u.session_key_enc for u in units],
                [u.refresh_hash for u in units],
                [u.expires_at for u in units],
                [u.now for u in units],
                [u.new_user_id for u in units],
            )
        )
        self._stats.batch_done(len(units))
        outcomes: list[LoginResult | BaseException | None] = [None] * len(units)
        for row in rows:
            status = row["r_status"]
            index = row["r_idx"] - 1
            if status == "ok":
                outcomes[index] = LoginResult(user=_user(row), new_user=row["r_new_user"])
            elif status == "error":
                outcomes[index] = self._unit_error(row["r_detail"])
        return outcomes

    async def _rotate_batch(
        self, units: Sequence[RotateParams]
    ) -> list[RotateResult | BaseException]:
        rows = await self._call(
            lambda conn: conn.fetch(
                _ROTATE_BATCH,
                [u.session_id for u in units],
                [u.presented_hash for u in units],
                [u.new_hash for u in units],
                [u.expires_at for u in units],
                [u.now for u in units],
                [u.grace.total_seconds() for u in units],
            )
        )
        self._stats.batch_done(len(units))
        outcomes: list[RotateResult | BaseException] = [self._unit_error("")] * len(units)
        for row in rows:
            index = row["r_idx"] - 1
            outcome = _OUTCOMES.get(row["r_outcome"])
            if outcome is None:
                outcomes[index] = self._unit_error(row["r_detail"])
            elif row["r_id"] is None:
                outcomes[index] = RotateResult(outcome, None)
            else:
                outcomes[index] = RotateResult(outcome, _session(row))
        return outcomes

    async def _revoke_batch(
        self, units: Sequence[tuple[str, datetime, str]]
    ) -> list[bool | BaseException]:
        rows = await self._call(
            lambda conn: conn.fetch(
                _REVOKE_BATCH,
                [session_id for session_id, _, _ in units],
                [at for _, at, _ in units],
                [reason for _, _, reason in units],
            )
        )
        self._stats.batch_done(len(units))
        revoked = {row["id"] for row in rows}
        outcomes: list[bool | BaseException] = []
        for session_id, _, _ in units:
            # Of several logouts of one session in a batch, the first one revoked it.
            outcomes.append(session_id in revoked)
            revoked.discard(session_id)
        return outcomes

    def _unit_error(self, sqlstate: str | None) -> WxLoginError:
        return unit_failure(self._target.display, sqlstate)

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> bool:
        try:
            await self._call(lambda conn: conn.fetchval(POSTGRES.ping))
        except WxLoginError:
            return False
        return True

    async def aclose(self) -> None:
        for batcher in (self._logins, self._rotations, self._revocations):
            await batcher.drain()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


def _user(row: Row) -> User:
    identities_ = tuple(
        Identity(appid, openid)
        for appid, openid in zip(row["r_appids"] or (), row["r_openids"] or (), strict=True)
    )
    return User(
        id=row["r_id"],
        unionid=row["r_unionid"],
        identities=identities_,
        phone=row["r_phone"],
        pure_phone=row["r_pure_phone"],
        phone_country_code=row["r_phone_country_code"],
        nickname=row["r_nickname"],
        avatar_url=row["r_avatar_url"],
        created_at=row["r_created_at"],
        last_login_at=row["r_last_login_at"],
    )


def _session(row: Row) -> SessionRecord:
    return SessionRecord(
        id=row["r_id"],
        user_id=row["r_user_id"],
        appid=row["r_appid"],
        openid=row["r_openid"],
        session_key_enc=None,
        created_at=row["r_created_at"],
        last_used_at=row["r_last_used_at"],
        expires_at=row["r_expires_at"],
        revoked_at=row["r_revoked_at"],
    )
