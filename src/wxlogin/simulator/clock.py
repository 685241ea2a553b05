"""The simulator's clock: real time plus an offset that only ever grows.

Every lifetime in the simulator (codes, session keys, tokens, rate windows, payments) reads
this clock, so a test can jump five minutes ahead with ``advance(300)`` instead of sleeping.
Pass the same clock to the code under test (``WeChatClient(clock=sim.clock)``) and both sides
agree on what time it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SimClock"]


class SimClock:
    """``source() + offset`` seconds since the epoch; callable, so it fits ``clock=`` params.

    ``source`` defaults to ``time.time``; tests that need an exact, frozen time can pass
    ``lambda: 1_700_000_000.0``.
    """

    __slots__ = ("_offset", "_source")

    def __init__(self, source: Callable[[], float] = time.time, *, offset: float = 0.0) -> None:
        self._source = source
        self._offset = float(offset)

    def __call__(self) -> float:
        return self._source() + self._offset

    def now(self) -> float:
        """The simulated Unix time, in seconds."""
        return self._source() + self._offset

    @property
    def offset(self) -> float:
        """How far the simulated time is ahead of the source, in seconds."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move simulated time forward and return the new time.

        Time never goes backwards: codes and tokens that expired must stay expired.
        """
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self._offset += float(seconds)
        return self.now()

    def __repr__(self) -> str:
        return f"SimClock(offset={self._offset:g})"
