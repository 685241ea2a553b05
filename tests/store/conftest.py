"""Helpers for store tests: a login shortcut and a statement counter."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from wxlogin.store import LoginResult, Store
from wxlogin.store.postgres import PgTx, PostgresBackend
from wxlogin.store.sqlite import SqliteTx

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
        """Statements sent, not counting transaction control (the runners' own BEGIN,
        SAVEPOINT, RELEASE, COMMIT never pass through a ``Tx``)."""
        return len(self.statements)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> StatementLog:
    """Every statement the store's logic sends, and every PostgreSQL batch call (one round
    trip each)."""
    log = StatementLog()

    def counting(method: Any) -> Any:
        async def counted(self: Any, statement: str, *args: Any) -> Any:
            log.statements.append(statement)
            return await method(self, statement, *args)

        return counted

    for tx_class in (SqliteTx, PgTx):
        for name in ("one", "all", "run"):
            monkeypatch.setattr(tx_class, name, counting(getattr(tx_class, name)))
    batch_call = PostgresBackend._call

    async def counted_call(self: PostgresBackend, work: Any) -> Any:
        log.statements.append("<one batch call>")
        return await batch_call(self, work)

    monkeypatch.setattr(PostgresBackend, "_call", counted_call)
    return log
