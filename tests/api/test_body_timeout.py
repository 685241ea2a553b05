"""A client that sends its headers and then stalls gets 408 ``body_timeout`` once
``body_read_timeout`` has passed, and its request is let go; a cancellation that is not the
deadline's (a shutdown) still cancels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import msgspec
import pytest

from tests.api.conftest import APPID, Harness
from wxlogin.api.body_deadline import BodyDeadlines

TIMEOUT = 0.3


class Stalling:
    """Sends ``first`` and then nothing more, ever, unless ``finish`` is called."""

    def __init__(self, first: bytes) -> None:
        self._first: bytes | None = first
        self._rest = asyncio.Event()
        self.waiting = asyncio.Event()
        self.sent: list[MutableMapping[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self._first is not None:
            chunk, self._first = self._first, None
            return {"type": "http.request", "body": chunk, "more_body": True}
        self.waiting.set()
        await self._rest.wait()
        return {"type": "http.request", "body": b"}", "more_body": False}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)

    def answer(self) -> tuple[int, Any]:
        return self.sent[0]["status"], msgspec.json.decode(self.sent[1]["body"])


def login_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/auth/login",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "query_string": b"",
    }


@pytest.fixture
async def slow(harness_factory: Callable[..., Any]) -> Harness:
    harness: Harness = await harness_factory(body_read_timeout=TIMEOUT)
    return harness


async def test_a_stalled_body_is_answered_408_and_the_service_goes_on(slow: Harness) -> None:
    client = Stalling(b'{"code": "0')
    started = time.monotonic()
    await asyncio.wait_for(slow.app(login_scope(), client.receive, client.send), timeout=10)
    took = time.monotonic() - started
    status, body = client.answer()
    assert (status, body["error"]["code"]) == (408, "body_timeout")
    assert "0.3 seconds" in body["error"]["message"]
    # Cut between the timeout and one watchman tick after it.
    assert TIMEOUT <= took < TIMEOUT + 2.0
    assert not slow.app.face.body_deadlines._reads  # nothing left registered
    assert (await slow.login("after"))["access_token"]


async def test_a_body_that_arrives_in_time_is_read(slow: Harness) -> None:
    body = msgspec.json.encode({"code": slow.sim.login(APPID, "prompt"), "appid": APPID})
    client = Stalling(body[:-1])
    run = asyncio.ensure_future(slow.app(login_scope(), client.receive, client.send))
    await client.waiting.wait()
    client._rest.set()  # the last byte arrives well inside the time allowed
    await asyncio.wait_for(run, timeout=10)
    status, answer = client.answer()
    assert status == 200, answer


async def test_another_cancellation_is_not_turned_into_408() -> None:
    deadlines = BodyDeadlines(60)
    stalled = asyncio.Event()

    async def read() -> None:
        reading = deadlines.begin()
        try:
            stalled.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            deadlines.cancelled(reading)
            raise
        finally:
            deadlines.end(reading)

    task = asyncio.ensure_future(read())
    await stalled.wait()
    task.cancel()  # a shutdown, not the deadline
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._reads


def test_the_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BodyDeadlines(0)
