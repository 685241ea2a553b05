"""The pruner: retention from settings, and the background task that prunes on its own."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.conftest import APP_A, Login
from wxlogin.config import Settings
from wxlogin.errors import ConfigurationError
from wxlogin.service.pruner import Pruner, Retention
from wxlogin.store.repository import Store

DAY = timedelta(days=1)


@pytest.fixture
def login(store: Store, utc_now: datetime) -> Login:
    return Login(store, utc_now)


def test_retention_comes_from_settings() -> None:
    settings = Settings(
        session_retention=3 * 86_400,
        refresh_token_ttl=10 * 86_400,
        pay_event_retention=5 * 86_400,
        message_send_retention=86_400,
    )
    retention = Retention.from_settings(settings)
    assert retention == Retention(3 * DAY, 10 * DAY, 5 * DAY, DAY)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    cut = retention.cutoffs(now)
    assert (cut.sessions, cut.spent_refresh_tokens) == (now - 3 * DAY, now - 10 * DAY)


def test_sessions_must_outlive_the_tokens_they_revoke() -> None:
    with pytest.raises(ConfigurationError, match="session_retention"):
        Settings(session_retention=60, access_token_ttl=900)
    with pytest.raises(ConfigurationError, match="pay_event_retention"):
        Settings(pay_event_retention=3600)  # WeChat Pay retries a callback for a day


async def test_the_background_task_prunes_by_itself(
    store: Store, login: Login, utc_now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wxlogin.service")
    await login(APP_A, "o-gone", now=utc_now - 61 * DAY)
    gone = login.last_session_id
    await login(APP_A, "o-alive", now=utc_now)
    alive = login.last_session_id
    retention = Retention(7 * DAY, 30 * DAY, 90 * DAY, 90 * DAY)
    pruner = Pruner(store, retention, interval=0.05, clock=utc_now.timestamp)
    assert (await pruner.count()).sessions == 1
    pruner.start()
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while pruner.runs < 2:  # two runs: the task goes on after the first
            assert asyncio.get_running_loop().time() < deadline, "the pruner never ran"
            await asyncio.sleep(0.01)
    finally:
        await pruner.stop()
    assert await store.get_session(gone) is None
    assert await store.get_session(alive) is not None
    assert "pruned 1 sessions, 0 spent refresh tokens" in caplog.text


async def test_no_background_pruning_with_a_zero_interval(store: Store) -> None:
    pruner = Pruner(store, Retention(DAY, DAY, DAY, DAY), interval=0)
    pruner.start()
    assert pruner._task is None
    await pruner.stop()
