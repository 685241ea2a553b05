"""``Store``: the one object the service talks to — a small façade over a backend.

Every public method is one unit of work that either happens whole or not at all; callers get a
result or a wxlogin error, never a driver exception. Logins, refreshes and logouts are
group-committed (several requests per transaction, each answered only after its transaction
has committed); see ``sqlite.py`` and ``postgres.py`` for how each backend does it, and
``identities.py`` / ``sessions.py`` / ``users.py`` for the logic they share.

Clock. Nothing here reads the time: every method that stamps a row takes ``now`` (an aware
datetime) from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from wxlogin.store import identities, messages, migrate, sessions, users
from wxlogin.store.identities import LoginParams
from wxlogin.store.key_store import KeyStore
from wxlogin.store.order_store import OrderStore
from wxlogin.store.postgres import PostgresBackend
from wxlogin.store.prune import Maintenance
from wxlogin.store.records import (
    LoginResult,
    MessageSend,
    RotateResult,
    SendOutcome,
    SessionRecord,
    User,
    new_id,
)
from wxlogin.store.sessions import RotateParams
from wxlogin.store.sqlite import SqliteBackend
from wxlogin.store.target import DatabaseTarget, parse_target
from wxlogin.store.tx import StoreStats, Tx

__all__ = ["Store"]

T = TypeVar("T")
Work = Callable[[Tx], Coroutine[Any, Any, T]]


class _Backend(Protocol):
    @property
    def dialect(self) -> str: ...

    async def write(self, work: Work[T]) -> T: ...

    async def read(self, work: Work[T]) -> T: ...

    async def login(self, params: LoginParams) -> LoginResult: ...

    async def rotate(self, params: RotateParams) -> RotateResult: ...

    async def revoke_session(self, session_id: str, reason: str, now: datetime) -> bool: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), not a naive one")
    return value.astimezone(UTC)


class Store:
    """Async access to the wxlogin database. Build with ``Store.from_url``; ``aclose`` after."""

    def __init__(self, target: DatabaseTarget) -> None:
        self._target = target
        self.stats = StoreStats()
        self._backend: _Backend = (
            SqliteBackend(target, self.stats)
            if target.backend == "sqlite"
            else PostgresBackend(target, self.stats)
        )
        # WeChat Pay's orders, refunds and callbacks (``order_store.py``).
        self.orders = OrderStore(self._backend)
        # The access-token signing keys, sealed (``key_store.py``).
        self.signing_keys = KeyStore(self._backend)
        # Pruning old sessions, spent refresh tokens, callbacks, message records (``prune.py``).
        self.maintenance = Maintenance(self._backend)

    @classmethod
    def from_url(cls, url: str) -> Store:
        """A store on ``url`` (``sqlite:///path``, ``postgresql://…``, or the ``+aiosqlite`` /
        ``+asyncpg`` forms). Opens nothing yet: connections are made on first use."""
        return cls(parse_target(url))

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._target.display

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._target.backend

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # ------------------------------------------------------------------ lifecycle

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (``alembic upgrade head``); idempotent."""
        await migrate.run_upgrade(self._target)

    async def current_revision(self) -> str | None:
        """The schema revision of the database; None before the first ``migrate``."""
        return await migrate.read_revision(self._target)

    async def ping(self) -> bool:
        """True when the database answers a trivial query (readiness probes)."""
        return await self._backend.ping()

    async def aclose(self) -> None:
        """Finish the writes already submitted, then close every connection."""
        await self._backend.aclose()

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
        """Find or create the user for ``(appid, openid)`` and open a session, atomically."""
        params = LoginParams(
            appid=appid,
            openid=openid,
            unionid=unionid,
            session_id=session_id,
            session_key_enc=session_key_enc,
            refresh_hash=refresh_hash,
            expires_at=_aware(expires_at, "expires_at"),
            now=_aware(now, "now"),
            new_user_id=new_id(12),
        )
        return await self._backend.login(params)

    # ------------------------------------------------------------------ users

    async def get_user(self, user_id: str) -> User | None:
        """The user ``user_id`` refers to, following merges (an old id yields the survivor)."""
        return await self._backend.read(lambda tx: users.load_user(tx, user_id))

    async def list_users(self, *, limit: int = 50, offset: int = 0) -> list[User]:
        """Live (not merged) users, newest first; two queries whatever the page size."""
        as_array = self.dialect == "postgresql"
        return await self._backend.read(
            lambda tx: users.list_users(tx, limit=limit, offset=offset, as_array=as_array)
        )

    async def set_phone(
        self, user_id: str, *, phone: str, pure_phone: str, country_code: str, now: datetime
    ) -> User:
        """Record the user's WeChat-verified phone number; ``NotFound`` for an unknown user."""
        values = {"phone": phone, "pure_phone": pure_phone, "phone_country_code": country_code}
        at = _aware(now, "now")
        return await self._backend.write(lambda tx: users.update_user(tx, user_id, values, at))

    async def update_profile(
        self,
        user_id: str,
        *,
        nickname: str | None = None,
        avatar_url: str | None = None,
        now: datetime,
    ) -> User:
        """Change nickname and/or avatar; ``None`` leaves a field as it is."""
        values = {
            name: value
            for name, value in (("nickname", nickname), ("avatar_url", avatar_url))
            if value is not None
        }
        at = _aware(now, "now")
        return await self._backend.write(lambda tx: users.update_user(tx, user_id, values, at))

    async def learn_unionid(
        self, user_id: str, *, appid: str, openid: str, unionid: str, now: datetime
    ) -> User:
        """Record a unionid learnt after login; may merge two users (see ``identities``)."""
        at = _aware(now, "now")
        return await self._backend.write(
            lambda tx: identities.learn_unionid(
                tx, user_id, appid=appid, openid=openid, unionid=unionid, now=at
            )
        )

    # ------------------------------------------------------------------ sessions

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, with its identity's current sealed session_key."""
        return await self._backend.read(lambda tx: sessions.get_session(tx, session_id))

    async def rotate_refresh(
        self,
        *,
        session_id: str,
        presented_hash: bytes,
        new_hash: bytes,
        expires_at: datetime,
        now: datetime,
        grace: timedelta = timedelta(0),
    ) -> RotateResult:
        """Swap the session's refresh token for a new one, detecting reuse of an old one.

        A refresh token is good once: presenting an earlier one revokes the session
        (``REUSED``) — unless it was spent less than ``grace`` ago and ``new_hash``, its
        successor, is still the current token (``REPLAYED``); see ``sessions.rotate``.
        """
        params = RotateParams(
            session_id=session_id,
            presented_hash=presented_hash,
            new_hash=new_hash,
            expires_at=_aware(expires_at, "expires_at"),
            now=_aware(now, "now"),
            grace=grace,
        )
        return await self._backend.rotate(params)

    async def revoke_session(self, session_id: str, *, reason: str, now: datetime) -> bool:
        """Revoke one session; True when this call revoked it (False: unknown or already)."""
        return await self._backend.revoke_session(session_id, reason, _aware(now, "now"))

    async def revoke_user_sessions(self, user_id: str, *, reason: str, now: datetime) -> list[str]:
        """Revoke every live session of the user (following merges); the ids revoked."""
        at = _aware(now, "now")
        return await self._backend.write(
            lambda tx: sessions.revoke_user_sessions(tx, user_id, reason, at)
        )

    async def count_live_sessions(self, now: datetime) -> int:
        """Sessions neither revoked nor expired at ``now``: a count over the table, for
        ``/metrics`` now and then, never per request."""
        at = _aware(now, "now")
        return await self._backend.read(lambda tx: sessions.count_live(tx, at))

    async def revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """Sessions revoked at or after ``since``, oldest first, as (id, revoked_at).

        Inclusive, so a poller that passes the last ``revoked_at`` it saw misses nothing
        revoked in the same microsecond (and sees that one again, harmlessly).
        """
        at = _aware(since, "since")
        return await self._backend.read(lambda tx: sessions.revoked_since(tx, at))

    # ------------------------------------------------------------------ messages

    async def record_message_send(
        self,
        *,
        user_id: str,
        appid: str,
        template_id: str,
        keywords: Sequence[str],
        outcome: SendOutcome,
        errcode: int | None = None,
        error_code: str | None = None,
        field: str | None = None,
        now: datetime,
    ) -> MessageSend:
        """Record one subscribe-message send (never its values); the record, with a new id."""
        send = MessageSend(
            id=new_id(12),
            user_id=user_id,
            appid=appid,
            template_id=template_id,
            keywords=tuple(keywords),
            outcome=outcome,
            errcode=errcode,
            error_code=error_code,
            field=field,
            sent_at=_aware(now, "now"),
        )
        return await self._backend.write(lambda tx: messages.record_send(tx, send))

    async def list_message_sends(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        user_id: str | None = None,
        template_id: str | None = None,
    ) -> list[MessageSend]:
        """Recorded sends, newest first; of one user and/or one template when given."""
        return await self._backend.read(
            lambda tx: messages.list_sends(
                tx, limit=limit, offset=offset, user_id=user_id, template_id=template_id
            )
        )
