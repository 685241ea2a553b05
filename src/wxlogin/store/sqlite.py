"""SQLite on the stdlib driver: one writer thread with group commit, reads on the event loop.

* **Writes** go to one thread that owns the write connection. It takes every unit of work
  waiting for it (up to ``MAX_BATCH``), runs them in one ``BEGIN IMMEDIATE`` transaction — each
  unit in a savepoint of its own, so one that fails is undone alone and its neighbours commit —
  commits, and only then answers all of them with one wake-up of the event loop. A whole batch
  costs one hop between threads and one commit.
* **Reads** run inline on the event-loop thread, on a connection of their own. In WAL mode a
  reader never waits for the writer, and a point lookup costs tens of microseconds, less than
  a hop to a thread and back.
* **Checkpoints** run on a third thread (``PRAGMA wal_checkpoint(PASSIVE)`` once a second after
  writes), never in a committing writer: the writer's own auto-checkpoint is off.
* Durability: ``synchronous=NORMAL`` in WAL mode. A commit is in the WAL file when the writer
  answers, so it survives the process being killed; only a power loss can undo the last
  commits before a checkpoint.

One process should own the writer: other processes (the admin CLI) may write too, and wait for
SQLite's lock, but ``wxlogin serve`` refuses several workers on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from wxlogin.errors import NotReady, WxLoginError
from wxlogin.store import identities, sessions
from wxlogin.store.failures import map_db_error
from wxlogin.store.identities import LoginParams
from wxlogin.store.records import LoginResult, RotateResult
from wxlogin.store.sessions import RotateParams
from wxlogin.store.sql import SQLITE, Statements
from wxlogin.store.target import DatabaseTarget
from wxlogin.store.tx import Conflict, Row, StoreStats, run_inline

__all__ = ["SqliteBackend", "SqliteTx"]

T = TypeVar("T")
Work = Callable[["SqliteTx"], Coroutine[Any, Any, T]]

# Units per transaction. Bigger batches save little once the commit is shared by 64, and keep
# the writer from holding the GIL in long stretches.
MAX_BATCH: Final = 64
MAX_ATTEMPTS: Final = 8
WRITER_BUSY_TIMEOUT_MS: Final = 10_000
# Readers in WAL mode only wait in rare moments (WAL recovery after a crash); never long.
READER_BUSY_TIMEOUT_MS: Final = 1_000
CHECKPOINT_EVERY_S: Final = 1.0
# After a WAL reset, the file is truncated back to this size.
WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024


def _stamp(value: datetime) -> str:
    """The stored form of a timestamp: naive UTC text, fixed width, so text order is time."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _bind(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_stamp(arg) if isinstance(arg, datetime) else arg for arg in args)


class SqliteTx:
    """``Tx`` on a sqlite3 connection: every call completes without suspending."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def sql(self) -> Statements:
        return SQLITE

    async def one(self, statement: str, *args: Any) -> Row | None:
        # fetchall, not fetchone: a statement left half-read stays open in SQLite.
        rows: list[Row] = self._conn.execute(statement, _bind(args)).fetchall()
        return rows[0] if rows else None

    async def all(self, statement: str, *args: Any) -> list[Row]:
        rows: list[Row] = self._conn.execute(statement, _bind(args)).fetchall()
        return rows

    async def run(self, statement: str, *args: Any) -> int:
        return self._conn.execute(statement, _bind(args)).rowcount

    def time(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return datetime.fromisoformat(value).replace(tzinfo=UTC)


class _Unit:
    __slots__ = ("future", "loop", "work")

    def __init__(
        self, work: Work[Any], loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
    ) -> None:
        self.work = work
        self.loop = loop
        self.future = future


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SqliteBackend:
    dialect: Final = "sqlite"

    def __init__(self, target: DatabaseTarget, stats: StoreStats) -> None:
        self._target = target
        self._stats = stats
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._written = threading.Event()
        self._closing = threading.Event()
        self._start_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None

    def _connect(self, *, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._target.sqlite_path,
            uri=self._target.sqlite_uri,
            isolation_level=None,  # autocommit: BEGIN is ours to send
            check_same_thread=False,
            cached_statements=256,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        return conn

    def _error(self, error: BaseException) -> WxLoginError:
        return map_db_error(error, where=self._target.display)

    # ------------------------------------------------------------------ writes

    async def write(self, work: Work[T]) -> T:
        """Run ``work`` in the next batch; its result once that batch has committed."""
        if self._closing.is_set():
            raise NotReady("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Unit(work, loop, future))
        if self._writer is None:
            self._start_threads()
        return await future

    async def login(self, params: LoginParams) -> LoginResult:
        return await self.write(lambda tx: identities.login(tx, params))

    async def rotate(self, params: RotateParams) -> RotateResult:
        return await self.write(lambda tx: sessions.rotate(tx, params))

    async def revoke_session(self, session_id: str, reason: str, now: datetime) -> bool:
        return await self.write(lambda tx: sessions.revoke_session(tx, session_id, reason, now))

    def _start_threads(self) -> None:
        with self._start_lock:
            if self._writer is not None or self._closing.is_set():
                return
            self._writer = threading.Thread(target=self._serve, name="wxlogin-sqlite-writer")
            self._writer.daemon = True
            self._writer.start()
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="wxlogin-sqlite-checkpoint"
            )
            self._checkpointer.daemon = True
            self._checkpointer.start()

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect(busy_timeout_ms=WRITER_BUSY_TIMEOUT_MS)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "wal_autocheckpoint=0",  # the checkpoint thread does it, off the commit path
            f"journal_size_limit={WAL_SIZE_LIMIT}",
        ):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    def _serve(self) -> None:
        """The writer thread: take what is waiting, run it as one transaction, answer."""
        conn: sqlite3.Connection | None = None
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if conn is None:
                try:
                    conn = self._open_writer()
                except sqlite3.Error as error:
                    self._answer(batch, [_Failed(error)] * len(batch))
                    continue
            self._answer(batch, self._run_batch(conn, batch))
        if conn is not None:
            conn.close()
        # Anything queued after the stop signal: the store is closed, say so.
        leftovers: list[_Unit] = []
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if item is not None:
                    leftovers.append(item)
        closed = NotReady("the store is closed")
        self._answer(leftovers, [_Failed(closed)] * len(leftovers))

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Unit]) -> list[Any]:
        tx = SqliteTx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            return [_Failed(error)] * len(batch)
        try:
            outcomes = [self._run_unit(conn, tx, unit) for unit in batch]
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            # The transaction itself failed (disk full, I/O): nothing in it lasted.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return [_Failed(error)] * len(batch)
        self._stats.batch_done(len(batch))
        self._written.set()
        return outcomes

    def _run_unit(self, conn: sqlite3.Connection, tx: SqliteTx, unit: _Unit) -> Any:
        for _ in range(MAX_ATTEMPTS):
            conn.execute("SAVEPOINT unit")
            try:
                value = run_inline(unit.work(tx))
            except Conflict:
                self._undo(conn)
                self._stats.conflict_retries += 1
                continue
            except Exception as error:
                self._undo(conn)
                return _Failed(error)
            conn.execute("RELEASE unit")
            return value
        return _Failed(NotReady("the database write kept conflicting; retry"))

    @staticmethod
    def _undo(conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            # SQLite rolled the whole transaction back itself (I/O error, disk full): the
            # units before this one are gone too, so the batch fails as a whole.
            raise sqlite3.OperationalError("the transaction was rolled back by SQLite")
        conn.execute("ROLLBACK TO unit")
        conn.execute("RELEASE unit")

    def _answer(self, batch: list[_Unit], outcomes: list[Any]) -> None:
        """Hand the outcomes to each waiting event loop: one wake-up per loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for unit, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(unit.loop, []).append((unit.future, outcome))
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(self._settle, answers)

    def _settle(self, answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
        for future, outcome in answers:
            if future.done():
                continue  # the caller gave up; the work stands
            if isinstance(outcome, _Failed):
                error = outcome.error
                if isinstance(error, sqlite3.Error | OSError):
                    mapped = self._error(error)
                    mapped.__cause__ = error
                    error = mapped
                future.set_exception(error)
            else:
                future.set_result(outcome)

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._closing.wait(CHECKPOINT_EVERY_S):
                if not self._written.is_set():
                    continue
                self._written.clear()
                try:
                    conn = conn or self._connect(busy_timeout_ms=READER_BUSY_TIMEOUT_MS)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    self._written.set()  # try again next time; the WAL only grows meanwhile
        finally:
            if conn is not None:
                conn.close()

    # ------------------------------------------------------------------ reads

    async def read(self, work: Work[T]) -> T:
        """Run ``work`` on the reader connection, inline (it never suspends)."""
        try:
            if self._reader is None:
                self._reader = self._connect(busy_timeout_ms=READER_BUSY_TIMEOUT_MS)
                self._reader.execute("PRAGMA query_only=ON")
            return run_inline(work(SqliteTx(self._reader)))
        except (sqlite3.Error, OSError) as error:
            raise self._error(error) from error

    async def ping(self) -> bool:
        try:
            await self.read(lambda tx: tx.one(SQLITE.ping))
        except WxLoginError:
            return False
        return True

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Finish every queued write, then stop the threads and close the connections."""
        self._closing.set()
        writer, checkpointer = self._writer, self._checkpointer
        if writer is not None:
            self._queue.put(None)
            await asyncio.to_thread(writer.join)
        if checkpointer is not None:
            await asyncio.to_thread(checkpointer.join)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
