"""``wxlogin messages list`` on the suite's database: what an operator sees of the sends."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.store.conftest import APP_A, Login
from wxlogin.cli import main
from wxlogin.store import Store
from wxlogin.store.records import SendOutcome


@pytest.fixture
def login(store: Store, utc_now: datetime) -> Login:
    return Login(store, utc_now)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WXLOGIN_DATABASE_URL", database_url)


async def test_list_shows_every_send_newest_first(
    store: Store, login: Login, utc_now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = (await login(APP_A, "oa")).user
    bob = (await login(APP_A, "ob")).user
    await store.record_message_send(
        user_id=alice.id,
        appid=APP_A,
        template_id="tmpl-shipped",
        keywords=["thing1"],
        outcome=SendOutcome.SENT,
        now=utc_now,
    )
    await store.record_message_send(
        user_id=bob.id,
        appid=APP_A,
        template_id="tmpl-shipped",
        keywords=["thing1"],
        outcome=SendOutcome.REFUSED,
        errcode=47003,
        error_code="invalid_message_data",
        field="thing1",
        now=utc_now + timedelta(seconds=5),
    )
    # The command runs its own event loop (asyncio.run), so it goes to a worker thread.
    assert await asyncio.to_thread(main, ["messages", "list"]) == 0
    header, newest, oldest = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["SENT", "AT", "(UTC)"]
    assert newest.split()[2:7] == ["refused", "47003", bob.id, APP_A, "tmpl-shipped"]
    assert newest.endswith("(thing1)")
    assert oldest.split()[2:7] == ["sent", "-", alice.id, APP_A, "tmpl-shipped"]

    assert await asyncio.to_thread(main, ["messages", "list", "--user", alice.id, "--json"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert (only["user_id"], only["outcome"], only["keywords"]) == (alice.id, "sent", ["thing1"])
    assert await asyncio.to_thread(main, ["messages", "list", "--template", "other"]) == 0
    assert capsys.readouterr().out.strip() == "none match"


async def test_an_empty_record(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert await asyncio.to_thread(main, ["messages", "list"]) == 0
    assert capsys.readouterr().out.strip() == "no messages sent yet"


@pytest.mark.parametrize("args", [["--limit", "0"], ["--offset", "-1"], ["--limit", "many"]])
def test_bad_paging_is_an_argument_error(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["messages", "list", *args])
    assert exited.value.code == 2
