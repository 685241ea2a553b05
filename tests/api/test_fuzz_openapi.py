"""Schemathesis against our own /openapi.json: every operation, with its credential and
without, schema-valid and schema-violating data, every check schemathesis has — no server
error, every status documented, the documented content type, every body and header as the
document says.

In process (ASGI), not against a `wxlogin serve` socket: the document, the routes and the
error handler are the same code either way, and in process the app runs on this suite's two
backends (SQLite + memory, PostgreSQL + Redis) with the simulator's WeChat behind it, at
~40 ms a case instead of a socket's and a second process's start-up. What only a socket can
break (the HTTP server, workers) is tests/cli's business.

The number of cases is ``WXLOGIN_FUZZ_CASES`` (default 300; at least 1,000 under CI=true),
spread over the operations; the test prints the count per operation and fails when fewer
cases ran than asked, so a generator that quietly makes nothing is a failure, not a pass.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import APPID, APPID_B, SECRET, SECRET_B, make_settings
from tests.conftest import TEST_REDIS_URL
from wxlogin.api import WxLoginApp, create_app
from wxlogin.cache.base import Cache
from wxlogin.cache.memory import MemoryCache
from wxlogin.cache.redis import RedisCache
from wxlogin.simulator import Simulator


def _required_cases() -> int:
    """Read at import: the suite's autouse fixture clears WXLOGIN_* before each test."""
    floor = 1000 if os.environ.get("CI") == "true" else 0
    asked = int(os.environ.get("WXLOGIN_FUZZ_CASES") or (floor or 300))
    return max(asked, floor)


# schemathesis's own strategies draw from `random` (Hypothesis warns of it); ours do not.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)
REQUIRED_CASES = _required_cases()
Operation = APIOperation[Any, Any, Any, Any]
SERVICE_TOKEN = secrets.token_urlsafe(32)
MCHID = "1900000109"
TEMPLATE = "tmpl-fuzz"
FIELDS = {"thing1": "thing", "time2": "time"}
# Refusals of a request's shape. Anything else a schema-valid request may be refused with is
# about the world (an unknown code, user or order): see ``shape_accepted``.
SHAPE_REFUSALS = {
    (400, "invalid_request"),
    (413, "payload_too_large"),
    (415, "unsupported_media_type"),
}


def shape_accepted(ctx: Any, response: Any, case: Case[Any]) -> bool | None:
    """Schemathesis's positive-data check as this API draws the line.

    The built-in check (ST202) wants every schema-valid request to succeed or be refused with
    a credential or resource status; but a well-formed wx.login code WeChat has never issued
    is 400 `invalid_code`, as OAuth's invalid_grant is, and no schema can list the codes
    WeChat will issue. So: a schema-valid request is never refused for its shape — not 400
    `invalid_request`, 413 or 415 — and any other refusal must be a status and code the
    document lists for the operation, which the other checks hold it to.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    code = None
    if response.headers.get("content-type", [""])[0].startswith("application/json"):
        body = response.json()
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    assert (response.status_code, code) not in SHAPE_REFUSALS, (
        f"a schema-valid request was refused for its shape: {response.status_code} "
        f"{response.text[:300]}"
    )
    return None


@dataclass
class Hosted:
    """The app as schemathesis runs it: on schemathesis's own event loop (a portal thread),
    where the service, its pools and its cache must all be made, used and closed."""

    app: WxLoginApp
    prefix: str = field(default_factory=lambda: f"wxlogin-fuzz:{secrets.token_hex(6)}:")
    redis: aioredis.Redis | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        async with self._redis_keys():
            await self.app(scope, receive, send)

    @asynccontextmanager
    async def _redis_keys(self) -> AsyncIterator[None]:
        yield
        if self.redis is not None:
            stale = [key async for key in self.redis.scan_iter(match=f"{self.prefix}*")]
            if stale:
                await self.redis.delete(*stale)
            await self.redis.aclose()


def _cache(hosted_prefix: str) -> tuple[Cache, aioredis.Redis | None]:
    if TEST_REDIS_URL is None:
        return MemoryCache(), None
    # Made here, connected on first use: on schemathesis's loop, where the app runs.
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    return RedisCache(client, prefix=hosted_prefix), client


@pytest.fixture
def hosted(sim: Simulator, database_url: str, tmp_path: Path) -> Iterator[Hosted]:
    kit = sim.new_merchant(MCHID)
    sim.register_template(APPID, TEMPLATE, FIELDS)
    settings_ = make_settings(
        database_url,
        tmp_path / "data",
        apps=[
            {"appid": APPID, "secret": SECRET, "pay": kit.write_files(tmp_path / "keys")},
            {"appid": APPID_B, "secret": SECRET_B},
        ],
        # WeChat Pay calls back https addresses only.
        public_url="https://shop.test",
        service_tokens=[SERVICE_TOKEN],
        message_templates={TEMPLATE: FIELDS},
    )
    prefix = f"wxlogin-fuzz:{secrets.token_hex(6)}:"
    cache, client = _cache(prefix)
    app = create_app(settings_, wechat_transport=sim.transport, cache=cache)
    yield Hosted(app, prefix, client)
    # Ends every app schemathesis started in this process: this one (its lifespan closes the
    # service, then the Redis keys go), before database_url's schema is dropped.
    schemathesis_asgi.shutdown_lifespans()


@dataclass
class Caller:
    """Sends a case with or without the credential its operation asks for."""

    sim: Simulator
    client: requests.Session
    counts: Counter[str] = field(default_factory=Counter)
    user: str = field(default_factory=lambda: f"fuzzer-{secrets.token_hex(4)}")
    _token: str | None = None

    def login(self) -> str:
        """A real access token: a wx.login code from the simulator, traded at /auth/login."""
        code = self.sim.login(APPID, self.user)
        answer = self.client.post("/auth/login", json={"code": code, "appid": APPID})
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def token(self) -> str:
        if self._token is None:
            self._token = self.login()
        return self._token

    def headers(self, operation: Operation, authenticated: bool) -> dict[str, str]:
        if not authenticated:
            return {}
        [scheme] = operation.definition.raw["security"][0]
        if scheme == "serviceToken":
            return {"Authorization": f"Bearer {SERVICE_TOKEN}"}
        # Logging out ends the session of the token it is given: each logout gets its own,
        # so the other operations keep meeting a live one.
        fresh = operation.path == "/auth/logout"
        return {"Authorization": f"Bearer {self.login() if fresh else self.token()}"}

    def run(self, operation: Operation, mode: GenerationMode, authenticated: bool, n: int) -> None:
        label = _label(operation, mode, authenticated)

        @settings(
            max_examples=n,
            deadline=None,
            database=None,  # nothing written into the work tree; a failure prints its seed
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def attack(case: Case[Any]) -> None:
            self.counts[label] += 1
            case.call_and_validate(
                headers=self.headers(operation, authenticated),
                excluded_checks=[positive_data_acceptance],
                additional_checks=[shape_accepted],
            )

        attack()


def _label(operation: Operation, mode: GenerationMode, authenticated: bool) -> str:
    return f"{operation.label} [{mode.value}{', with credential' if authenticated else ''}]"


def _runs(schema: Any) -> list[tuple[Operation, GenerationMode, bool]]:
    runs = []
    for result in schema.get_all_operations():
        operation = result.ok()
        secured = bool(operation.definition.raw.get("security"))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for authenticated in (True, False) if secured else (False,):
                runs.append((operation, mode, authenticated))
    return runs


def test_every_operation_holds_to_its_document(hosted: Hosted, sim: Simulator) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", hosted)
    runs = _runs(schema)
    # Operations with little to vary (GET /healthz) stop early, so each run is asked for a
    # share with room to spare, and the total is checked below.
    share = math.ceil(1.5 * REQUIRED_CASES / len(runs))
    with schemathesis_asgi.get_client(hosted) as client:
        caller = Caller(sim, client)
        impossible, failures = [], []
        for operation, mode, authenticated in runs:
            where = _label(operation, mode, authenticated)
            try:
                caller.run(operation, mode, authenticated, share)
            except Unsatisfiable:
                # Only where there is nothing to violate: an operation without parameters or
                # body, or a path parameter any segment satisfies. Said in the report.
                assert mode is GenerationMode.NEGATIVE, operation.label
                impossible.append(where)
            except (AssertionError, FailureGroup) as exc:  # every run goes on; all told below
                failures.append(f"{where}\n{exc}")
        # The session the cases used is still alive: they met a real user, not a 401.
        me = client.get("/me", headers={"Authorization": f"Bearer {caller.token()}"})
        assert me.status_code == 200, me.text
    total = sum(caller.counts.values())
    report = [f"{count:5d}  {label}" for label, count in sorted(caller.counts.items())]
    report += [f"    0  {label} (nothing schema-violating to send)" for label in impossible]
    print("\nschemathesis cases per operation:\n" + "\n".join(report))
    print(f"schemathesis: {total} cases over {len(schema)} paths, {REQUIRED_CASES} required")
    assert not failures, "\n\n".join(failures)
    assert total >= REQUIRED_CASES, f"only {total} cases ran, {REQUIRED_CASES} required"
