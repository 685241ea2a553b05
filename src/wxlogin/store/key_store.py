"""``Store.signing_keys``: the access-token signing keys, shared through the database.

The rows hold sealed private keys (the service seals and opens them; the store never sees a
key in clear). Creating the first key and rotating are read-modify-write units that must not
interleave across processes: on PostgreSQL each takes a transaction-scoped advisory lock
named after the schema (two deployments in one database do not block each other), on SQLite
the write transaction itself (``BEGIN IMMEDIATE``) is the lock. Reads are a handful of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from wxlogin.store.tx import Row, Transactions, Tx, aware_utc

__all__ = ["KeyStore", "StoredKey"]


_COLUMNS: Final = "kid, private_key_sealed, created_at, activates_at, retired_at"
_LIST: Final = f"SELECT {_COLUMNS} FROM signing_keys ORDER BY activates_at, created_at, kid"
_COUNT: Final = "SELECT count(*) AS n FROM signing_keys"
_INSERT: Final = f"INSERT INTO signing_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
_RETIRE: Final = "UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND kid <> ?"
_DROP: Final = "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?"
# PostgreSQL only: held until the transaction ends; keyed by schema, so that deployments (and
# test runs) sharing one database in different schemas never wait for each other.
_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':wxlogin-signing-keys'))"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as stored: the private key sealed, the times as aware UTC datetimes."""

    kid: str
    private_key_sealed: bytes = field(repr=False)
    created_at: datetime
    activates_at: datetime
    retired_at: datetime | None = None


class KeyStore:
    def __init__(self, backend: Transactions) -> None:
        self._backend = backend

    async def all(self) -> list[StoredKey]:
        """Every stored key, the one that activates first first."""
        return await self._backend.read(_all)

    async def add_first(self, keys: Sequence[StoredKey]) -> list[StoredKey]:
        """Store ``keys`` only if there are none yet; the keys stored afterwards.

        Processes starting together on an empty database each offer their own first key;
        exactly one offer is kept and every one of them gets that one back.
        """

        async def unit(tx: Tx) -> list[StoredKey]:
            await _lock(tx)
            row = await tx.one(tx.sql.adapt(_COUNT))
            if row is not None and int(row["n"]) == 0:
                for key in keys:
                    await _insert(tx, key)
            return await _all(tx)

        return await self._backend.write(unit)

    async def rotate(self, new: StoredKey, *, drop_retired_before: datetime) -> list[StoredKey]:
        """Add ``new``; every key not yet retired retires when it activates; keys retired
        before ``drop_retired_before`` are deleted. The keys stored afterwards."""
        drop = aware_utc(drop_retired_before, "drop_retired_before")

        async def unit(tx: Tx) -> list[StoredKey]:
            await _lock(tx)
            await tx.run(
                tx.sql.adapt(_RETIRE), aware_utc(new.activates_at, "activates_at"), new.kid
            )
            await tx.run(tx.sql.adapt(_DROP), drop)
            await _insert(tx, new)
            return await _all(tx)

        return await self._backend.write(unit)


async def _lock(tx: Tx) -> None:
    if tx.sql.numbered:  # PostgreSQL
        await tx.one(_LOCK)


async def _insert(tx: Tx, key: StoredKey) -> None:
    await tx.run(
        tx.sql.adapt(_INSERT),
        key.kid,
        key.private_key_sealed,
        aware_utc(key.created_at, "created_at"),
        aware_utc(key.activates_at, "activates_at"),
        None if key.retired_at is None else aware_utc(key.retired_at, "retired_at"),
    )


async def _all(tx: Tx) -> list[StoredKey]:
    return [_stored(tx, row) for row in await tx.all(tx.sql.adapt(_LIST))]


def _stored(tx: Tx, row: Row) -> StoredKey:
    retired = row["retired_at"]
    return StoredKey(
        kid=row["kid"],
        private_key_sealed=bytes(row["private_key_sealed"]),
        created_at=tx.time(row["created_at"]),
        activates_at=tx.time(row["activates_at"]),
        retired_at=None if retired is None else tx.time(retired),
    )
