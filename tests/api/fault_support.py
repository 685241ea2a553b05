"""The fault matrix's shared parts: what an upstream can do wrong, and what an answer to it
must look like.

A case is one scripted misbehaviour of the simulator (docs/simulator.md, "Faults") on one
upstream path. ``Verdict`` checks a reply against the route's own documentation in
``/openapi.json``: a status and ``error.code`` listed there for that route, never
``internal_error``, a small body that echoes nothing of what upstream sent, ``Retry-After``
when the error says "try again". ``Snapshots`` reads whole tables, so "no partial rows" means
no row added, changed or removed — not merely the same count.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import wxlogin.pay.client
import wxlogin.wechat.client
from wxlogin import errors
from wxlogin.pay import protocol as wxpay
from wxlogin.wechat import protocol as wx

# Every WeChat errcode the client maps to a class of its own, and one it does not know.
UNKNOWN_ERRCODE = 61451
ERRCODES: tuple[int, ...] = (
    *sorted(int(code) for code in wx.ErrCode if code != wx.ErrCode.OK),
    UNKNOWN_ERRCODE,
)
# What a gateway in front of WeChat (or WeChat Pay) answers when it is unwell.
GATEWAY_STATUSES = (500, 502, 503, 504)
# Every WeChat Pay error code the client maps, and one it does not know.
PAY_CODES: tuple[str, ...] = (*sorted(wxpay.ERROR_STATUS), "SOMETHING_NEW")
# Larger than anything WeChat sends, larger than the production transport's 1 MiB cap.
HUGE = 2 * 1024 * 1024
# An error body renders a code and a sentence; anything much longer is echoing something.
MAX_ERROR_BYTES = 1024
# Every case fails this many attempts in a row: the client's retries (two at most) included.
ATTEMPTS = 3


@dataclass(frozen=True)
class Case:
    """One misbehaviour of one upstream path, for ``Simulator.add_fault``."""

    name: str
    path: str
    fault: dict[str, Any]

    def add_to(self, sim: Any) -> None:
        sim.add_fault(self.path, times=ATTEMPTS, **self.fault)


def _bodies(wrong_typed: Sequence[str], oversized: str) -> list[tuple[str, str | bytes]]:
    """Bodies no WeChat endpoint should answer with, and the endpoint's own wrong shapes."""
    common: list[tuple[str, str | bytes]] = [
        ("empty body", ""),
        ("truncated JSON", '{"errcode":0,"errmsg":"o'),
        ("not JSON", "<html><body>upstream error</body></html>"),
        ("not UTF-8", b'{"errcode":\xff\xfe}'),
        ("a JSON array", "[]"),
        ("JSON null", "null"),
        ("a JSON number", "42"),
        ("a JSON string", '"ok"'),
        ("errcode as text", '{"errcode":"40029","errmsg":"invalid code"}'),
        ("errcode as bool", '{"errcode":true,"errmsg":"x"}'),
        ("errcode as float", '{"errcode":1.5,"errmsg":"x"}'),
        ("errcode null", '{"errcode":null}'),
        ("errcode beyond 64 bits", '{"errcode":' + "9" * 40 + "}"),
        ("oversized errmsg", '{"errcode":40029,"errmsg":"' + "x" * HUGE + '"}'),
        ("oversized success", oversized),
        ("deeply nested", '{"errcode":0,"x":' + "[" * 10_000 + "]" * 10_000 + "}"),
    ]
    return common + [(f"wrong-typed {n}", body) for n, body in enumerate(wrong_typed, 1)]


def wechat_cases(
    path: str, *, timeout: float, wrong_typed: Sequence[str], oversized: str
) -> list[Case]:
    """Every errcode, gateway statuses, bad bodies, a delay past ``timeout`` and a drop."""
    cases = [Case(f"errcode {code}", path, {"errcode": code}) for code in ERRCODES]
    cases += [Case(f"HTTP {status}", path, {"http_status": status}) for status in GATEWAY_STATUSES]
    cases += [Case(name, path, {"body": body}) for name, body in _bodies(wrong_typed, oversized)]
    cases.append(Case("delay past the timeout", path, {"delay_ms": timeout * 1000 + 300}))
    cases.append(Case("connection dropped", path, {"drop": True}))
    return cases


def pay_cases(path: str, *, timeout: float) -> list[Case]:
    """Every WeChat Pay code, gateway statuses, bad bodies, a delay and a drop.

    Bodies given verbatim are signed by the simulator, so they reach the client's parser
    after a signature that verifies: the worst case, an authentic answer of the wrong shape.
    """
    cases = [Case(f"code {code}", path, {"code": code}) for code in PAY_CODES]
    cases += [Case(f"HTTP {status}", path, {"http_status": status}) for status in GATEWAY_STATUSES]
    bodies: list[tuple[str, str | bytes]] = [
        ("empty body", ""),
        ("truncated JSON", '{"prepay_id":"wx'),
        ("not JSON", "<html><body>upstream error</body></html>"),
        ("not UTF-8", b'{"prepay_id":\xff\xfe}'),
        ("a JSON array", "[]"),
        ("JSON null", "null"),
        ("wrong-typed fields", '{"prepay_id":5,"trade_state":[],"amount":"all"}'),
        ("oversized", '{"prepay_id":"' + "w" * HUGE + '"}'),
        ("deeply nested", '{"x":' + "[" * 10_000 + "]" * 10_000 + "}"),
    ]
    cases += [Case(name, path, {"body": body}) for name, body in bodies]
    cases.append(Case("delay past the timeout", path, {"delay_ms": timeout * 1000 + 300}))
    cases.append(Case("connection dropped", path, {"drop": True}))
    return cases


def without_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry at once: every retry still happens, only the wait between them goes (it is real
    time, and the matrices make hundreds of retries; what is tested is where they end)."""
    monkeypatch.setattr(wxlogin.wechat.client, "_backoff", lambda attempt: 0.0)
    monkeypatch.setattr(wxlogin.pay.client, "_backoff", lambda attempt: 0.0)


# --------------------------------------------------------------------------- the verdict


def _tree(root: type[errors.WxLoginError]) -> Iterator[type[errors.WxLoginError]]:
    yield root
    for sub in root.__subclasses__():
        yield from _tree(sub)


def _deliberate_500s() -> frozenset[str]:
    """Codes of the errors that answer 500 on purpose: what only an operator can fix (a wrong
    AppSecret, the merchant's keys, an IP allow-list). Those are the only 500s allowed; the
    base's ``internal_error`` (anything unforeseen) never is."""
    return frozenset(
        str(cls.code)
        for cls in _tree(errors.WxLoginError)
        if cls.http_status == 500 and cls.code != errors.WxLoginError.code
    )


def documented(spec: dict[str, Any], method: str, path: str) -> set[tuple[int, str]]:
    """The (status, code) pairs ``/openapi.json`` lists for one route."""
    responses = spec["paths"][path][method.lower()]["responses"]
    return {
        (int(status), code)
        for status, response in responses.items()
        for code in response.get("x-error-codes", ())
    }


@dataclass
class Verdict:
    """Collects what went wrong across many cases, to fail once with all of them."""

    spec: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    tried: int = 0

    def error(
        self, case: str, response: httpx2.Response, method: str, path: str
    ) -> tuple[int, str] | None:
        """Check an error reply (any 2xx is the caller's to judge); its (status, code)."""
        self.tried += 1
        where = f"{case}: {method} {path} -> {response.status_code}"
        if response.is_success:
            return None
        if len(response.content) > MAX_ERROR_BYTES:
            self.problems.append(f"{where}: a {len(response.content)}-byte error body")
        try:
            error = response.json()["error"]
            code = error["code"]
        except (ValueError, KeyError, TypeError):
            self.problems.append(f"{where}: not the error shape: {response.text[:200]!r}")
            return None
        status = response.status_code
        if status == 500 and code not in _deliberate_500s():
            self.problems.append(f"{where}: a 500 ({code})")
        if (status, code) not in documented(self.spec, method, path):
            self.problems.append(f"{where}: {code} is not documented under {status}")
        errcode = error.get("wechat_errcode")
        if errcode is not None and type(errcode) is not int:
            self.problems.append(f"{where}: wechat_errcode {errcode!r} is not an integer")
        if status in (429, 503, 504):  # each of these says "try again later"
            after = response.headers.get("retry-after", "")
            if not after.isdigit() or int(after) < 1:
                self.problems.append(f"{where}: Retry-After {after!r}")
        return status, code

    def refused(
        self, case: str, response: httpx2.Response, method: str, path: str
    ) -> tuple[int, str] | None:
        """As ``error``, and the request must have failed."""
        answer = self.error(case, response, method, path)
        self.expect(case, answer is not None, f"answered {response.status_code}")
        return answer

    def unchanged(self, case: str, before: Rows, after: Rows) -> None:
        left = changed(before, after)
        self.expect(case, not left, f"rows changed: {left}")

    def expect(self, case: str, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(f"{case}: {what}")

    def assert_clean(self) -> None:
        assert not self.problems, f"{len(self.problems)} of {self.tried} answers:\n" + "\n".join(
            self.problems
        )


# --------------------------------------------------------------------------- rows

Rows = dict[str, list[tuple[Any, ...]]]


class Snapshots:
    """Whole tables read on one connection (a new connection per look would cost more than
    the request it checks), each look in a transaction of its own, ended at once: in SQLite's
    WAL mode a read transaction left open would keep seeing the past."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def __call__(self, tables: Iterable[str]) -> Rows:
        snapshot: Rows = {}
        try:
            for table in tables:
                # Table names come from the tests' own constants, never from input.
                result = await self._conn.execute(text(f"SELECT * FROM {table}"))
                snapshot[table] = sorted((tuple(row) for row in result), key=repr)
        finally:
            await self._conn.rollback()
        return snapshot

    async def scalars(self, statement: str) -> list[Any]:
        try:
            return sorted((row[0] for row in await self._conn.execute(text(statement))), key=repr)
        finally:
            await self._conn.rollback()


@contextlib.asynccontextmanager
async def snapshots(db: AsyncEngine) -> AsyncIterator[Snapshots]:
    async with db.connect() as conn:
        yield Snapshots(conn)


def changed(before: Rows, after: Rows) -> list[str]:
    """The tables whose rows differ, each with how many rows came and went."""
    out = []
    for table, old in before.items():
        new = after[table]
        if old != new:
            gone = len([r for r in old if r not in new])
            came = len([r for r in new if r not in old])
            out.append(f"{table} (+{came} -{gone})")
    return out
