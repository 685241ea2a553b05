"""``wxlogin db upgrade|prune`` and ``wxlogin keys rotate|list`` on the suite's database."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from wxlogin.cli import main
from wxlogin.store.migrate import head_revision
from wxlogin.store.repository import Store

HEAD = head_revision()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("WXLOGIN_") and not name.startswith("WXLOGIN_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


async def test_db_upgrade(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WXLOGIN_DATABASE_URL", database_url)
    # The command runs its own event loop (asyncio.run), so it goes to a worker thread.
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"revision: empty -> {HEAD}" in out
    assert await asyncio.to_thread(main, ["db", "upgrade"]) == 0
    assert f"revision: {HEAD} (already up to date)" in capsys.readouterr().out
    store = Store.from_url(database_url)
    try:
        assert await store.current_revision() == HEAD
    finally:
        await store.aclose()


def test_db_upgrade_masks_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WXLOGIN_DATABASE_URL", "postgresql://wx:db-secret-1@127.0.0.1:1/wx")
    assert main(["db", "upgrade"]) == 2
    captured = capsys.readouterr()
    assert "db-secret-1" not in captured.out + captured.err
    assert "wx:***@127.0.0.1:1" in captured.err


def test_db_upgrade_reports_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WXLOGIN_ACCESS_TOKEN_TTL", "-5")
    assert main(["db", "upgrade"]) == 2
    assert "access_token_ttl" in capsys.readouterr().err


# --------------------------------------------------------------------------- keys


async def test_keys_rotate_and_list(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WXLOGIN_DATABASE_URL", database_url)
    monkeypatch.setenv("WXLOGIN_DATA_DIR", str(tmp_path / "data"))
    assert await asyncio.to_thread(main, ["keys", "rotate", "--activate-in", "0"]) == 0
    out = capsys.readouterr().out
    store = Store.from_url(database_url)
    try:
        first, second = await store.signing_keys.all()
    finally:
        await store.aclose()
    assert f"new signing key: {second.kid}" in out
    assert f"  {first.kid}" in out  # the retired key is still published
    assert await asyncio.to_thread(main, ["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"{second.kid}" in listing and "<- signing now" in listing.split(second.kid)[1]
    assert first.kid in listing
    for row in (first, second):
        assert row.private_key_sealed.hex() not in out + listing
    assert await asyncio.to_thread(main, ["keys", "rotate", "--activate-in", "-1"]) == 2


async def test_keys_rotate_with_another_encryption_key_is_one_line(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WXLOGIN_DATABASE_URL", database_url)
    monkeypatch.setenv("WXLOGIN_DATA_DIR", str(tmp_path / "a"))
    assert await asyncio.to_thread(main, ["keys", "list"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("WXLOGIN_DATA_DIR", str(tmp_path / "b"))  # another generated key file
    assert await asyncio.to_thread(main, ["keys", "rotate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "WXLOGIN_SESSION_KEY_ENCRYPTION_KEY" in err


# --------------------------------------------------------------------------- prune


async def test_db_prune_counts_then_deletes(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("WXLOGIN_DATABASE_URL", database_url)
    store = Store.from_url(database_url)
    now = datetime.now(UTC)
    try:
        await store.migrate()
        for n, days in enumerate((60, 0)):  # one expired a month ago, one alive
            await store.login(
                appid="wxaaaaaaaaaaaaaaaa",
                openid=f"o-{n}",
                unionid=None,
                session_id=f"s-{n}",
                session_key_enc=b"x",
                refresh_hash=bytes([n]) * 32,
                expires_at=now - timedelta(days=days) + timedelta(days=30),
                now=now - timedelta(days=days),
            )
        assert await asyncio.to_thread(main, ["db", "prune", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "would delete (dry run):" in out and "  sessions               1" in out
        assert await store.get_session("s-0") is not None  # a dry run deletes nothing
        assert await asyncio.to_thread(main, ["db", "prune"]) == 0
        out = capsys.readouterr().out
        assert "deleted:" in out and "  sessions               1" in out
        assert await store.get_session("s-0") is None
        assert await store.get_session("s-1") is not None
    finally:
        await store.aclose()
