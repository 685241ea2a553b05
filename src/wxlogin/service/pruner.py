"""Pruning on a schedule: how long each kind of row is kept, and the background task.

The retention comes from settings (``Retention.from_settings``):

* sessions expired or revoked more than ``session_retention`` ago (7 days by default) go,
  with the refresh tokens they spent. Until then a refresh of such a session still gets its
  precise answer (expired, revoked) and an operator can look at it. The setting may not be
  shorter than an access token's life: processes without Redis learn revocations from these
  rows (``RevocationSync``).
* a spent refresh token of a live session goes ``refresh_token_ttl`` after it was spent: by
  then it would have expired by itself, so presenting it can no longer be told apart from an
  expired token (it is refused either way; it just no longer revokes the session as reuse).
* WeChat Pay callbacks after ``pay_event_retention`` (90 days; WeChat Pay retries one for
  about a day), subscribe-message records after ``message_send_retention`` (90 days).

``Pruner.start`` runs a prune every ``prune_interval`` seconds (jittered, so a fleet restarted
together does not prune in step; PostgreSQL lets one pruner work at a time anyway, see
``store/prune.py``). ``wxlogin db prune`` runs the same prune by hand.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from wxlogin.config import Settings
from wxlogin.errors import WxLoginError
from wxlogin.store.prune import PruneCounts, PruneCutoffs
from wxlogin.store.repository import Store

__all__ = ["Pruner", "Retention"]

_log = logging.getLogger("wxlogin.service")

# The first prune waits this long after start-up (at most; less with a short interval), so
# start-up and the first requests are not slowed by it.
_FIRST_AFTER: Final = 60.0


@dataclass(frozen=True, slots=True)
class Retention:
    sessions: timedelta
    spent_refresh_tokens: timedelta
    pay_events: timedelta
    message_sends: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(
            sessions=timedelta(seconds=settings.session_retention),
            spent_refresh_tokens=timedelta(seconds=settings.refresh_token_ttl),
            pay_events=timedelta(seconds=settings.pay_event_retention),
            message_sends=timedelta(seconds=settings.message_send_retention),
        )

    def cutoffs(self, now: datetime) -> PruneCutoffs:
        return PruneCutoffs(
            sessions=now - self.sessions,
            spent_refresh_tokens=now - self.spent_refresh_tokens,
            pay_events=now - self.pay_events,
            message_sends=now - self.message_sends,
        )


class Pruner:
    def __init__(
        self,
        store: Store,
        retention: Retention,
        *,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._retention = retention
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # prunes completed by the background task (for tests and operators)

    def __repr__(self) -> str:
        return f"Pruner(interval={self._interval})"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def count(self) -> PruneCounts:
        """What a prune would delete now."""
        return await self._store.maintenance.count(self._retention.cutoffs(self._now()))

    async def prune(self) -> PruneCounts | None:
        """Prune now; None when another process's pruner is at work (it does the job)."""
        counts = await self._store.maintenance.prune(self._retention.cutoffs(self._now()))
        if counts is not None and counts.total:
            _log.info(
                "pruned %s",
                ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.as_dict().items()),
            )
        return counts

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="wxlogin-pruner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        pause = min(_FIRST_AFTER, self._interval) * random.uniform(0.5, 1.0)  # noqa: S311
        while True:
            await asyncio.sleep(pause)
            try:
                await self.prune()
                self.runs += 1
            except WxLoginError as exc:
                # The database is away: try again next time; nothing is lost by waiting.
                _log.warning("pruning failed (%s); will try again", exc.code)
            except Exception:
                _log.exception("unexpected error while pruning; will try again")
            pause = self._interval * random.uniform(0.9, 1.1)  # noqa: S311
