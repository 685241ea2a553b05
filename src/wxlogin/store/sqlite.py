"""SQLite on the stdlib driver: group commit on the event loop, reads inline, checkpoints aside.

* **Writes** join a ``Batcher``: every unit of work waiting when a batch starts runs in one
  ``BEGIN IMMEDIATE`` transaction — each unit in a savepoint of its own, so one that fails is
  undone alone and its neighbours commit — and all of them are answered only after ``COMMIT``.
  The batch runs right on the event-loop thread. It is CPU work either way (sqlite3 in WAL
  mode does not wait for the disk at commit), and a writer thread measured dearer: handing
  every batch across threads, and the two threads taking turns at the GIL, cost more than the
  work itself (docs/performance.md). The loop never waits for a lock, though: the write
  connection's busy timeout is 0, and when another process (the admin CLI) holds SQLite's
  write lock, that one batch waits for it on a worker thread instead.
* **Reads** run inline too, on a connection of their own. In WAL mode a reader never waits for
  the writer, and a point lookup costs tens of microseconds.
* **Checkpoints** run on a thread of their own (``PRAGMA wal_checkpoint(PASSIVE)`` once a
  second after writes), never in a commit: the write connection's auto-checkpoint is off.
* Durability: ``synchronous=NORMAL`` in WAL mode. A commit is in the WAL file when the store
  answers, so it survives the process being killed; only a power loss can undo the last
  commits before a checkpoint.

One process should own the writer: other processes (the admin CLI) may write too, and wait for
SQLite's lock, but ``wxlogin serve`` refuses several workers on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from wxlogin.errors import NotReady, WxLoginError
from wxlogin.store import identities, sessions
from wxlogin.store.batch import Batcher
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

# Units per transaction: past a few dozen the shared commit saves nothing more, and a batch
# holds the event loop while it runs.
MAX_BATCH: Final = 64
MAX_ATTEMPTS: Final = 8
# How long a batch waits (on a worker thread) for another process's write lock.
LOCK_WAIT_MS: Final = 10_000
# Readers in WAL mode only wait in rare moments (WAL recovery after a crash); never long.
READER_BUSY_TIMEOUT_MS: Final = 1_000
CHECKPOINT_EVERY_S: Final = 1.0
# After a WAL reset, the file is truncated back to this size.
WAL_SIZE_LIMIT: Final = 64 * 1024 * 1024


def _stamp(value: datetime) -> str:
    """The stored form of a timestamp: naive UTC text, fixed width, so text order is time."""
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        value = value.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset.
    return value.isoformat(" ", "microseconds")[:26]


class SqliteTx:
    """``Tx`` on a sqlite3 connection: every call completes without suspending."""

    __slots__ = ("_conn", "_stamps")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # A unit binds its ``now`` to several statements: each timestamp is formatted once
        # per transaction.
        self._stamps: dict[datetime, str] = {}

    @property
    def sql(self) -> Statements:
        return SQLITE

    def _bind(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple([self._stamp(arg) if isinstance(arg, datetime) else arg for arg in args])

    def _stamp(self, value: datetime) -> str:
        text = self._stamps.get(value)
        if text is None:
            text = self._stamps[value] = _stamp(value)
        return text

    async def one(self, statement: str, *args: Any) -> Row | None:
        # fetchall, not fetchone: a statement left half-read stays open in SQLite.
        rows: list[Row] = self._conn.execute(statement, self._bind(args)).fetchall()
        return rows[0] if rows else None

    async def all(self, statement: str, *args: Any) -> list[Row]:
        rows: list[Row] = self._conn.execute(statement, self._bind(args)).fetchall()
        return rows

    async def run(self, statement: str, *args: Any) -> int:
        return self._conn.execute(statement, self._bind(args)).rowcount

    def time(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _is_busy(error: sqlite3.Error) -> bool:
    return isinstance(error, sqlite3.OperationalError) and (
        "locked" in str(error) or "busy" in str(error)
    )


class SqliteBackend:
    dialect: Final = "sqlite"

    def __init__(self, target: DatabaseTarget, stats: StoreStats) -> None:
        self._target = target
        self._stats = stats
        self._writes: Batcher[Work[Any], Any] = Batcher(self._commit, max_size=MAX_BATCH)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._checkpointer: threading.Thread | None = None
        self._written = threading.Event()
        self._closing = threading.Event()

    def _connect(self, *, busy_timeout_ms: int) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._target.sqlite_path,
            uri=self._target.sqlite_uri,
            isolation_level=None,  # autocommit: BEGIN is ours to send
            check_same_thread=False,  # the lock-wait path hands it to a worker thread
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
        result: T = await self._writes.submit(work)
        return result

    async def login(self, params: LoginParams) -> LoginResult:
        return await self.write(lambda tx: identities.login(tx, params))

    async def rotate(self, params: RotateParams) -> RotateResult:
        return await self.write(lambda tx: sessions.rotate(tx, params))

    async def revoke_session(self, session_id: str, reason: str, now: datetime) -> bool:
        return await self.write(lambda tx: sessions.revoke_session(tx, session_id, reason, now))

    async def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            # Opened once, on a worker thread: setting WAL on a fresh file may wait for a lock
            # (another process migrating it, say), and the event loop must not wait with it.
            self._writer = await asyncio.to_thread(self._open_writer)
            self._start_checkpoints()
        return self._writer

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect(busy_timeout_ms=LOCK_WAIT_MS)
        try:
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                "wal_autocheckpoint=0",  # the checkpoint thread does it, off the commit path
                f"journal_size_limit={WAL_SIZE_LIMIT}",
                "busy_timeout=0",  # from now on the event loop never sleeps on a lock
            ):
                conn.execute(f"PRAGMA {pragma}")
        except BaseException:
            conn.close()
            raise
        return conn

    async def _commit(self, batch: Sequence[Work[Any]]) -> list[Any]:
        """One transaction for the whole batch; an outcome (value or error) per unit."""
        try:
            conn = await self._writer_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                if not _is_busy(error):
                    raise
                # Another process is writing: wait for its lock on a thread, not on the loop.
                return await asyncio.to_thread(self._commit_after_lock_wait, conn, batch)
            return self._run_batch(conn, batch)
        except (sqlite3.Error, OSError) as error:
            return [self._mapped(error) for _ in batch]

    def _commit_after_lock_wait(
        self, conn: sqlite3.Connection, batch: Sequence[Work[Any]]
    ) -> list[Any]:
        conn.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute("PRAGMA busy_timeout=0")
        return self._run_batch(conn, batch)

    def _run_batch(self, conn: sqlite3.Connection, batch: Sequence[Work[Any]]) -> list[Any]:
        """The units and the COMMIT, in the transaction the caller began."""
        tx = SqliteTx(conn)
        try:
            outcomes = [self._run_unit(conn, tx, work) for work in batch]
            conn.execute("COMMIT")
        except sqlite3.Error:
            # The transaction itself failed (disk full, I/O): nothing in it lasted.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        self._stats.batch_done(len(batch))
        self._written.set()
        return outcomes

    def _run_unit(self, conn: sqlite3.Connection, tx: SqliteTx, work: Work[Any]) -> Any:
        for _ in range(MAX_ATTEMPTS):
            conn.execute("SAVEPOINT unit")
            try:
                value = run_inline(work(tx))
            except Conflict:
                self._undo(conn)
                self._stats.conflict_retries += 1
                continue
            except Exception as error:
                self._undo(conn)
                return self._mapped(error)
            conn.execute("RELEASE unit")
            return value
        return NotReady("the database write kept conflicting; retry")

    @staticmethod
    def _undo(conn: sqlite3.Connection) -> None:
        if not conn.in_transaction:
            # SQLite rolled the whole transaction back itself (I/O error, disk full): the
            # units before this one are gone too, so the batch fails as a whole.
            raise sqlite3.OperationalError("the transaction was rolled back by SQLite")
        conn.execute("ROLLBACK TO unit")
        conn.execute("RELEASE unit")

    def _mapped(self, error: BaseException) -> BaseException:
        """A unit's error as its caller sees it: driver errors become wxlogin errors."""
        if isinstance(error, sqlite3.Error | OSError):
            mapped = self._error(error)
            mapped.__cause__ = error
            return mapped
        return error

    # ------------------------------------------------------------------ checkpoints

    def _start_checkpoints(self) -> None:
        if self._checkpointer is None and not self._closing.is_set():
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="wxlogin-sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()

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
        """Finish every submitted write, then stop checkpointing and close the connections."""
        await self._writes.drain()
        self._closing.set()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None
