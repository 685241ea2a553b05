"""The event feed behind ``/demo``'s timeline: what the service and the simulator did.

``wxlogin dev`` only. Two sources write to it, both in the dev process's event loop:

* the service, through its listener hook (``wxlogin.service.events``): user created or
  found, tokens issued, refresh outcomes, phone bound, profile and avatar, logout;
* the simulator, through ``SimulatorWitness``, which watches its HTTP traffic: codes
  minted by the phone, jscode2session and the phone-number exchange as WeChat answered them.

The page polls ``GET /demo/events?after=N``. A poll never waits (so a tab left open cannot
hold up the server's shutdown) and the feed keeps only the newest events, so it costs a
bounded amount of memory however long ``wxlogin dev`` runs.

What an event may say: ids, outcomes, counts, and codes cut to a short prefix. Never a token,
a whole code, a session_key or a secret; the two writers are the only places that build
events, and both are tested for it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ["DemoEvent", "EventFeed", "Side", "code_prefix", "masked_phone"]

Side = Literal["wxlogin", "wechat"]

DEFAULT_CAPACITY: Final = 500
# Enough of a code to match the phone's line with the server's, far too little to use it.
_CODE_PREFIX_CHARS: Final = 6


def code_prefix(code: str) -> str:
    """The first few characters of a one-time code, marked as cut."""
    return code[:_CODE_PREFIX_CHARS] + "…" if code else "(none)"


def masked_phone(phone: str) -> str:
    """``138****0000``: enough to recognise the number on screen, not to copy it."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


@dataclass(frozen=True, slots=True)
class DemoEvent:
    seq: int
    at: float  # Unix time, seconds: the page orders the phone's lines and ours by it
    side: Side
    kind: str  # stable, for the page's styling and the browser test
    title: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "side": self.side,
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
        }


class EventFeed:
    """The newest ``capacity`` events, numbered from 1 in the order they happened."""

    def __init__(
        self, *, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.time
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._events: deque[DemoEvent] = deque(maxlen=capacity)
        self._clock = clock
        self._last = 0

    def __repr__(self) -> str:
        return f"EventFeed(last={self._last}, kept={len(self._events)})"

    @property
    def last(self) -> int:
        """The number of the newest event; 0 before the first."""
        return self._last

    def now(self) -> float:
        return self._clock()

    def record(
        self, side: Side, kind: str, title: str, detail: str = "", *, at: float | None = None
    ) -> DemoEvent:
        """Add an event; ``at`` is when it happened, if that was before now."""
        self._last += 1
        when = self._clock() if at is None else at
        event = DemoEvent(self._last, when, side, kind, title, detail)
        self._events.append(event)
        return event

    def since(self, after: int) -> tuple[list[DemoEvent], int]:
        """Events numbered above ``after``, and how many of those were already dropped."""
        if after >= self._last:
            return [], 0
        events = [event for event in self._events if event.seq > after]
        first = events[0].seq if events else self._last + 1
        return events, first - after - 1

    def page(self, after: int | None) -> dict[str, Any]:
        """What ``GET /demo/events`` answers. Without ``after``: no events, only where the
        feed stands now, so a page that just opened starts from the present."""
        if after is None:
            return {"events": [], "last": self._last, "missed": 0}
        events, missed = self.since(after)
        return {
            "events": [event.as_json() for event in events],
            "last": self._last,
            "missed": missed,
        }
