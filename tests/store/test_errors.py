"""Database failures become wxlogin errors, with clear messages and no secrets in them."""

from __future__ import annotations

import secrets
import traceback
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.store.conftest import APP_A, Login
from wxlogin.errors import ConfigurationError, InvalidRequest, NotReady, WxLoginError
from wxlogin.store.failures import map_db_error, unit_failure
from wxlogin.store.repository import Store

UNREACHABLE_PG = "postgresql+asyncpg://wx:pg-password-789@127.0.0.1:1/wx"


async def test_unreachable_postgresql_is_not_ready(utc_now: datetime) -> None:
    store = Store.from_url(UNREACHABLE_PG)
    try:
        assert await store.ping() is False
        with pytest.raises(NotReady) as caught:
            await store.get_user("u")
        # The client's part says nothing of where the database is; the operator's part does.
        message, detail = caught.value.message, caught.value.detail or ""
        assert message == "the database is not available right now; retry later"
        assert "cannot connect to the database" in detail
        assert "127.0.0.1:1" in detail
        assert "pg-password-789" not in message + detail
        assert caught.value.retryable
        assert caught.value.__cause__ is not None  # mapped with `from`
        with pytest.raises(NotReady):
            await store.revoke_session("s", reason="logout", now=utc_now)
        with pytest.raises(NotReady):
            await store.migrate()
    finally:
        await store.aclose()


async def test_unmigrated_database_says_how_to_fix_it(database_url: str) -> None:
    store = Store.from_url(database_url)
    try:
        with pytest.raises(NotReady) as caught:
            await store.get_session("s")
        assert "wxlogin db upgrade" in (caught.value.detail or "")
        assert "wxlogin db upgrade" not in caught.value.message  # not a client's business
        assert await store.ping() is True  # reachable, just not migrated
    finally:
        await store.aclose()


async def test_errors_never_carry_parameter_values(store: Store, login: Login) -> None:
    """A statement that fails must not put the session_key ciphertext or hashes anywhere."""
    await login(APP_A, "oa")
    sid = login.last_session_id
    secret_blob = b"SECRET-CIPHERTEXT-" + secrets.token_hex(8).encode()
    refresh = secrets.token_bytes(32)
    with pytest.raises(WxLoginError) as caught:
        # The same session id again: a primary-key violation inside login's transaction.
        await store.login(
            appid=APP_A,
            openid="ob",
            unionid=None,
            session_id=sid,
            session_key_enc=secret_blob,
            refresh_hash=refresh,
            expires_at=login.now + timedelta(days=1),
            now=login.now,
        )
    rendered = "".join(traceback.format_exception(caught.value))
    for needle in (secret_blob.decode(), refresh.hex(), repr(refresh), repr(secret_blob)):
        assert needle not in rendered
    assert "SECRET-CIPHERTEXT" not in rendered


async def test_in_memory_sqlite_is_refused() -> None:
    for url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"):
        with pytest.raises(ConfigurationError, match="in-memory"):
            Store.from_url(url)


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unsupported"):
        Store.from_url("mysql+aiomysql://u@h/db")


async def test_sqlite_file_directory_is_created(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path}/deep/er/wx.db")  # plain form is normalised
    try:
        await store.migrate()
        assert (tmp_path / "deep" / "er" / "wx.db").is_file()
        assert store.dialect == "sqlite"
    finally:
        await store.aclose()


async def test_repr_and_url_mask_the_password() -> None:
    store = Store.from_url(UNREACHABLE_PG)
    try:
        assert "pg-password-789" not in repr(store)
        assert store.url == "postgresql+asyncpg://wx:***@127.0.0.1:1/wx"
    finally:
        await store.aclose()


async def test_a_value_the_database_refuses_is_the_requests_fault(
    store: Store, login: Login, utc_now: datetime
) -> None:
    """PostgreSQL cannot store a NUL byte in text (SQLite can): that is a 400 naming nothing,
    not a 500 naming the database. (The API refuses control characters before this.)"""
    result = await login(APP_A, "oa")
    if store.dialect == "sqlite":
        stored = await store.update_profile(result.user.id, nickname="a\x00b", now=utc_now)
        assert stored.nickname == "a\x00b"
        return
    with pytest.raises(InvalidRequest) as caught:
        await store.update_profile(result.user.id, nickname="a\x00b", now=utc_now)
    assert caught.value.http_status == 400
    assert "postgresql" not in caught.value.message and "127.0.0.1" not in caught.value.message
    assert "SQLSTATE 22" in (caught.value.detail or "")


class _Refused(Exception):
    """What asyncpg raises for an error the server reported: it carries the SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__("canceling statement due to statement timeout")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", ["55P03", "57014"])
def test_a_wait_the_database_gave_up_on_is_a_503(sqlstate: str) -> None:
    """lock_timeout and statement_timeout end a busy moment: retry later, not a 500."""
    mapped = map_db_error(_Refused(sqlstate), where="postgresql://wx:***@db/wx")
    assert isinstance(mapped, NotReady) and mapped.retryable
    assert "db/wx" not in mapped.message and sqlstate in (mapped.detail or "")


@pytest.mark.parametrize(("sqlstate", "hint"), [("42P01", "wxlogin db upgrade"), ("55P03", "")])
def test_a_unit_reported_failed_is_read_as_a_raised_error_would_be(
    sqlstate: str, hint: str
) -> None:
    """A batch function catches a unit's error and reports its SQLSTATE: a table missing
    there is an unmigrated database, a lock it gave up on a busy one — both 503."""
    mapped = unit_failure("postgresql://wx:***@db/wx", sqlstate)
    assert isinstance(mapped, NotReady) and mapped.retryable
    assert hint in (mapped.detail or "")
