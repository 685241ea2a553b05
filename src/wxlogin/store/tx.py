"""What the store's logic sees of a database: a transaction to send statements through.

The logic (``identities``, ``sessions``, ``users``) is written once, as ``async def`` functions
over ``Tx``, and each backend supplies its own ``Tx``:

* PostgreSQL: asyncpg; every call is a real await (one round trip).
* SQLite: stdlib sqlite3, where a call never suspends. The writer thread drives the logic's
  coroutine to its end with a single ``send(None)`` (``run_inline``), so a whole transaction —
  a whole batch of them — costs one hop between threads instead of one hop per statement.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from wxlogin.store.sql import Statements

__all__ = [
    "Conflict",
    "Row",
    "StoreStats",
    "Transactions",
    "Tx",
    "Work",
    "aware_utc",
    "run_inline",
]

T = TypeVar("T")


class Conflict(Exception):
    """A concurrent transaction got there first: undo this unit of work and run it again."""


class Row(Protocol):
    """A result row (``sqlite3.Row`` or ``asyncpg.Record``): by position or by column name."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class Tx(Protocol):
    """One open transaction (or, for reads, one connection in autocommit)."""

    @property
    def sql(self) -> Statements:
        """This backend's statement texts."""
        ...

    async def one(self, statement: str, *args: Any) -> Row | None:
        """The first row of the statement's result, or None."""
        ...

    async def all(self, statement: str, *args: Any) -> list[Row]: ...

    async def run(self, statement: str, *args: Any) -> int:
        """Execute; the number of rows the statement changed."""
        ...

    def time(self, value: Any) -> datetime:
        """A stored timestamp as an aware UTC datetime."""
        ...


Work = Callable[[Tx], Coroutine[Any, Any, T]]


class Transactions(Protocol):
    """What the store's parts (orders, keys, maintenance) need of a backend: a unit of work
    run in a write transaction, or on a read connection."""

    @property
    def dialect(self) -> str: ...

    async def write(self, work: Work[T]) -> T: ...

    async def read(self, work: Work[T]) -> T: ...


def aware_utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused (the store never guesses a zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), not a naive one")
    return value.astimezone(UTC)


def run_inline(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (store logic over a SQLite ``Tx``) to its result."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        result: T = finished.value
        return result
    coroutine.close()
    raise RuntimeError("store logic awaited something other than its SQLite transaction")


@dataclass(slots=True)
class StoreStats:
    """Counters a test or an operator can read (``Store.stats``); never reset."""

    batches: int = 0  # transactions the batch runner committed
    batched_units: int = 0  # units of work they carried
    largest_batch: int = 0
    conflict_retries: int = 0  # units run again after losing a race for a unique key
    deadlock_retries: int = 0  # PostgreSQL 40P01 / 40001: transactions run again
    general_path_logins: int = 0  # PostgreSQL logins the batch function handed back (merges)

    def batch_done(self, size: int) -> None:
        self.batches += 1
        self.batched_units += size
        self.largest_batch = max(self.largest_batch, size)
