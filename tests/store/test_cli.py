"""``wxlogin db upgrade`` on the suite's database."""

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
