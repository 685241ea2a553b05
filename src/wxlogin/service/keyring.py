"""The access-token signing keys of every process, kept in step through the database.

The keys live in the ``signing_keys`` table, their private halves sealed
(``SigningKeySealer``), so every process on every machine signs and verifies with the same
set, and the database's backups hold them. A process holds them in memory
(``tokens.SigningKeys``: signing and verifying do no I/O) and learns of a rotation two ways:

* **Redis pub/sub**, when the cache is shared: ``rotate`` announces itself on a channel and
  every listener re-reads the table at once;
* **a poll of the table** every ``poll_every`` seconds, always: a process that missed the
  announcement (Redis down, subscription broken, no Redis at all) catches up by itself.

So that no process ever meets a token signed by a key it does not know yet, a rotated key is
stored and published ``activate_in`` seconds (default: three polls) before it starts to sign;
the key it replaces stays published for ``keep_for`` after that (the longest an access token
it signed can live). A token naming an unknown kid also triggers a look, at most once a
second.

Deployments that kept their keys in ``data_dir/keys.json`` (before the table existed) have
them imported on first start, so tokens already issued keep verifying.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from wxlogin.cache.base import Broadcast, Cache
from wxlogin.errors import NotReady, WxLoginError
from wxlogin.private_files import LEGACY_KEYS_FILE, read_legacy_keys_file
from wxlogin.service.sealing import SigningKeySealer
from wxlogin.store.key_store import StoredKey
from wxlogin.store.repository import Store
from wxlogin.tokens import SigningKey, SigningKeys, parse_legacy_key_file

__all__ = ["ACTIVATE_IN", "POLL_EVERY", "KeyRing"]

_log = logging.getLogger("wxlogin.service")

POLL_EVERY: Final = 10.0
# Three polls: a process whose poll just missed the rotation still has two more chances.
ACTIVATE_IN: Final = 3 * POLL_EVERY
_CHANNEL: Final = "signing-keys"
_UNKNOWN_KID_LOOK_EVERY: Final = 1.0
_RETRY_FIRST: Final = 0.5
_RETRY_MAX: Final = 15.0


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class KeyRing:
    """Loads, rotates and follows the signing keys; build with ``KeyRing.open``."""

    keys: SigningKeys  # what tokens are signed and verified with; replaced in place

    def __init__(
        self,
        store: Store,
        sealer: SigningKeySealer,
        *,
        cache: Cache | None = None,
        clock: Callable[[], float] = time.time,
        poll_every: float = POLL_EVERY,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._broadcast = cache if isinstance(cache, Broadcast) else None
        self._clock = clock
        self._poll_every = poll_every
        # kid -> (sealed bytes, the key): a key is opened once, not on every poll.
        self._opened: dict[str, tuple[bytes, SigningKey]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._look: asyncio.Task[bool] | None = None
        self._last_look = 0.0
        self._data_dir: Path | None = None

    def __repr__(self) -> str:
        return f"KeyRing({self.keys!r})"

    @classmethod
    async def open(
        cls,
        store: Store,
        secret: bytes,
        *,
        data_dir: Path | None = None,
        cache: Cache | None = None,
        clock: Callable[[], float] = time.time,
        poll_every: float = POLL_EVERY,
        database_may_be_away: bool = False,
    ) -> KeyRing:
        """The keys in the database; on an empty table, the keys of a legacy ``keys.json`` in
        ``data_dir`` or else one new key (processes starting together agree on one).

        With ``database_may_be_away`` (a service starting while the database is down) the
        ring starts empty instead of failing — signing answers ``NotReady`` (503) — and
        ``start`` keeps trying until the keys are read.
        """
        ring = cls(store, SigningKeySealer(secret), cache=cache, clock=clock, poll_every=poll_every)
        ring._data_dir = data_dir
        try:
            await ring._load()
        except NotReady as exc:
            if not database_may_be_away:
                raise
            _log.warning("the signing keys cannot be read yet (%s); will keep trying", exc.code)
            ring.keys = SigningKeys((), clock=clock)
        return ring

    async def _load(self) -> None:
        stored = await self._store.signing_keys.all()
        if not stored:
            data_dir = self._data_dir
            legacy = read_legacy_keys_file(data_dir) if data_dir is not None else None
            if legacy is not None:
                offer = parse_legacy_key_file(legacy, where=f"{data_dir}/{LEGACY_KEYS_FILE}")
            else:
                offer = [SigningKey.generate(self._clock())]
            sealed = [_sealed(self._sealer, key) for key in offer]
            stored = await self._store.signing_keys.add_first(sealed)
            if legacy is not None and {s.kid for s in stored} == {k.kid for k in offer}:
                _log.info(
                    "imported %d signing keys from %s into the database; the file is not read "
                    "any more and can be deleted once no older version runs",
                    len(offer),
                    LEGACY_KEYS_FILE,
                )
        keys = self._opened_keys(stored)
        if hasattr(self, "keys"):
            self.keys.replace(keys)  # the same object the tokens hold
        else:
            self.keys = SigningKeys(keys, clock=self._clock)

    # ------------------------------------------------------------------ reading

    def _opened_keys(self, stored: list[StoredKey]) -> list[SigningKey]:
        keys: list[SigningKey] = []
        for row in stored:
            known = self._opened.get(row.kid)
            if known is None or known[0] != row.private_key_sealed:
                raw = self._sealer.open(row.private_key_sealed, kid=row.kid)
                key = SigningKey.from_private_bytes(
                    raw,
                    created_at=row.created_at.timestamp(),
                    activates_at=row.activates_at.timestamp(),
                )
                if key.kid != row.kid:
                    raise WxLoginError(
                        "a stored signing key does not match its kid",
                        detail=f"signing_keys row {row.kid} holds another key",
                    )
                known = (row.private_key_sealed, key)
                self._opened[row.kid] = known
            retired = None if row.retired_at is None else row.retired_at.timestamp()
            activates = row.activates_at.timestamp()
            key = known[1]
            if key.retired_at != retired or key.activates_at != activates:
                key = SigningKey.from_private(
                    key.private,
                    created_at=key.created_at,
                    activates_at=activates,
                    retired_at=retired,
                )
            keys.append(key)
        for kid in set(self._opened) - {row.kid for row in stored}:
            del self._opened[kid]
        return keys

    async def refresh(self) -> bool:
        """Read the table again; True when the keys changed."""
        if not self.keys.keys:
            await self._load()  # started while the database was away: the whole first load
            _log.info("signing keys read: signing with %s", self.keys.active_kid)
            return True
        stored = await self._store.signing_keys.all()
        if not stored:
            return False  # never serve without a key: keep the ones held
        changed = self.keys.replace(self._opened_keys(stored))
        if changed:
            _log.info("signing keys changed: signing with %s", self.keys.active_kid)
        return changed

    def unknown_kid(self) -> None:
        """A token named a kid we do not hold: look at the table soon (at most once a second;
        never waits, so the request that asked is not slowed)."""
        now = self._clock()
        if self._look is not None or now - self._last_look < _UNKNOWN_KID_LOOK_EVERY:
            return
        self._last_look = now
        self._look = asyncio.get_running_loop().create_task(self._quiet_refresh())
        self._look.add_done_callback(self._looked)

    def _looked(self, _: asyncio.Task[bool]) -> None:
        self._look = None

    async def _quiet_refresh(self) -> bool:
        try:
            return await self.refresh()
        except WxLoginError as exc:
            _log.warning("could not read the signing keys (%s)", exc.code)
        except Exception:
            _log.exception("unexpected error while reading the signing keys")
        return False

    # ------------------------------------------------------------------ rotation

    async def rotate(self, *, keep_for: float, activate_in: float = ACTIVATE_IN) -> SigningKey:
        """Add a new key that signs from ``activate_in`` seconds on; the current one retires
        then; keys retired more than ``keep_for`` seconds ago are dropped. Tells the other
        processes at once when the cache can (they poll anyway)."""
        now = self._clock()
        fresh = SigningKey.generate(now, activates_at=now + max(0.0, activate_in))
        stored = await self._store.signing_keys.rotate(
            _sealed(self._sealer, fresh), drop_retired_before=_at(now - keep_for)
        )
        self.keys.replace(self._opened_keys(stored))
        if self._broadcast is not None:
            try:
                await self._broadcast.publish(_CHANNEL, fresh.kid.encode())
            except WxLoginError as exc:
                _log.warning(
                    "could not announce the new signing key (%s); processes find it when "
                    "they next read the database",
                    exc.code,
                )
        return fresh

    # ------------------------------------------------------------------ following

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._poll(), name="wxlogin-keys-poll"))
        if self._broadcast is not None:
            self._tasks.append(asyncio.create_task(self._listen(), name="wxlogin-keys-feed"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        if self._look is not None:
            tasks.append(self._look)
        for task in tasks:
            # redis-py can swallow a cancellation that lands on its own read timeout: ask
            # again until the task has really ended.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.2)

    async def _poll(self) -> None:
        while True:
            # Without keys (started while the database was away) every second, not every ten.
            await asyncio.sleep(self._poll_every if self.keys.keys else min(1.0, self._poll_every))
            await self._quiet_refresh()

    async def _listen(self) -> None:
        assert self._broadcast is not None
        pause = _RETRY_FIRST
        while True:
            try:
                async with self._broadcast.subscribe(_CHANNEL) as subscription:
                    pause = _RETRY_FIRST
                    # Anything announced before the subscription took effect: read now.
                    await self._quiet_refresh()
                    while True:
                        await subscription.next()
                        await self._quiet_refresh()
            except WxLoginError as exc:
                _log.debug("signing-key feed from Redis interrupted (%s); polling", exc.code)
            except Exception:
                _log.exception("unexpected error in the signing-key feed; retrying")
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RETRY_MAX)


def _sealed(sealer: SigningKeySealer, key: SigningKey) -> StoredKey:
    return StoredKey(
        kid=key.kid,
        private_key_sealed=sealer.seal(key.private_bytes(), kid=key.kid),
        created_at=_at(key.created_at),
        activates_at=_at(key.activates_at),
        retired_at=None if key.retired_at is None else _at(key.retired_at),
    )
