"""Helpers for store tests: a login shortcut and a statement counter."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from wxlogin.store import LoginResult, Store

APP_A = "wxaaaaaaaaaaaaaaaa"
APP_B = "wxbbbbbbbbbbbbbbbb"
APP_C = "wxcccccccccccccccc"
REFRESH_TTL = timedelta(days=30)


def new_hash() -> bytes:
    return secrets.token_bytes(32)


@dataclass
class Login:
    """``await login(appid, openid, unionid)`` with fresh session ids and hashes."""

    store: Store
    now: datetime
    refresh_hashes: dict[str, bytes] = field(default_factory=dict)
    last_session_id: str = ""

    async def __call__(
        self,
        appid: str,
        openid: str,
        unionid: str | None = None,
        *,
        now: datetime | None = None,
        session_id: str | None = None,
    ) -> LoginResult:
        at = now or self.now
        sid = session_id or f"sess-{secrets.token_hex(8)}"
        refresh = new_hash()
        result = await self.store.login(
            appid=appid,
            openid=openid,
            unionid=unionid,
            session_id=sid,
            session_key_enc=b"ciphertext:" + secrets.token_bytes(8),
            refresh_hash=refresh,
            expires_at=at + REFRESH_TTL,
            now=at,
        )
        self.refresh_hashes[sid] = refresh
        self.last_session_id = sid
        return result


@pytest.fixture
def login(store: Store, utc_now: datetime) -> Login:
    return Login(store, utc_now)


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        """Statements sent, not counting transaction control (BEGIN / COMMIT / ROLLBACK)."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        return sum(1 for s in self.statements if not s.lstrip().upper().startswith(control))


@pytest.fixture
def statements(store: Store) -> Iterator[StatementLog]:
    log = StatementLog()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        log.statements.append(statement)

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield log
    event.remove(engine, "before_cursor_execute", record)
