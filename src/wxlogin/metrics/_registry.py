"""A small metrics registry: counters and histograms in flat arrays of doubles.

Why not ``prometheus-client``: measured on this box (docs/decisions.md), one of its labelled
``inc()`` costs 1.1-3 µs and a histogram ``observe()`` 1.6-5 µs, most of it a lock and
bookkeeping per call; a login would pay ~10 µs for its four series. Here a series is a slot
(or a run of slots) in an array of doubles, bound once, and an increment is one store into
it: ~0.1 µs for a counter, ~0.3 µs for a histogram.

Several worker processes (``wxlogin serve --workers N``): each keeps its array in a file of
its own in a shared directory (``share``), mapped into memory, so an increment still costs one
store and no system call. The worker that answers a scrape reads every process's file and adds
them up (``collect``): what the scrape shows is the sum over all workers at that instant,
including workers that have exited since (their counts stay in their files, so the sums never
go back). Beside each array, an append-only text file names the series in its slots.

Increments happen on the event loop's thread; they are not locked (a store into a slot is
not atomic against another thread, and no other thread increments).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import mmap
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final, TypeAlias, TypeVar

__all__ = [
    "Counter",
    "CounterChild",
    "Histogram",
    "HistogramChild",
    "Metric",
    "Registry",
    "clear_directory",
]

_log = logging.getLogger("wxlogin.metrics")

CAPACITY: Final = 8192  # slots per process: 64 KiB
MAX_CHILDREN: Final = 250  # label combinations per metric; later ones are counted as "other"
OTHER: Final = "other"
_VALUES, _KEYS = ".values", ".keys"

Values: TypeAlias = "memoryview[float]"  # cast to "d": one double per slot


class CounterChild:
    """One series of a counter (one combination of label values)."""

    __slots__ = ("_i", "_v")

    def __init__(self, values: Values, slot: int) -> None:
        self._v = values
        self._i = slot

    def inc(self, amount: float = 1.0) -> None:
        self._v[self._i] += amount


class HistogramChild:
    """One series of a histogram: a slot per bucket (not cumulative), then +Inf, then sum."""

    __slots__ = ("_bounds", "_i", "_sum", "_v")

    def __init__(self, values: Values, slot: int, bounds: tuple[float, ...]) -> None:
        self._v = values
        self._i = slot
        self._bounds = bounds
        self._sum = slot + len(bounds) + 1

    def observe(self, value: float) -> None:
        values = self._v
        # bisect_left: the first bound >= value, i.e. the bucket "le" counts it in.
        values[self._i + bisect.bisect_left(self._bounds, value)] += 1.0
        values[self._sum] += value


Child = CounterChild | HistogramChild
M = TypeVar("M", bound="Metric")


class Metric:
    """A named family of series; ``labels(*values)`` gives one, bound once and kept."""

    kind = "untyped"

    def __init__(
        self, registry: Registry, name: str, help_text: str, labelnames: Sequence[str]
    ) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self._registry = registry
        self._children: dict[tuple[str, ...], Child] = {}

    @property
    def width(self) -> int:
        """Slots one series takes."""
        return 1

    def _make(self, values: Values, slot: int) -> Child:
        raise NotImplementedError

    def _child(self, labels: tuple[str, ...]) -> Child:
        child = self._children.get(labels)
        if child is None:
            child = self._registry._bind(self, labels)
        return child

    def children(self) -> Iterator[tuple[tuple[str, ...], Child]]:
        yield from self._children.items()


class Counter(Metric):
    kind = "counter"

    def labels(self, *values: str) -> CounterChild:
        child = self._child(values)
        assert isinstance(child, CounterChild)
        return child

    def _make(self, values: Values, slot: int) -> Child:
        return CounterChild(values, slot)


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self,
        registry: Registry,
        name: str,
        help_text: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
    ) -> None:
        super().__init__(registry, name, help_text, labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        if list(self.bounds) != sorted(set(self.bounds)):
            raise ValueError(f"{name}: buckets must increase")

    @property
    def width(self) -> int:
        return len(self.bounds) + 2

    def labels(self, *values: str) -> HistogramChild:
        child = self._child(values)
        assert isinstance(child, HistogramChild)
        return child

    def _make(self, values: Values, slot: int) -> Child:
        return HistogramChild(values, slot, self.bounds)


class Registry:
    """This process's metrics; ``share(directory)`` makes them readable by its siblings."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()
        self._values: Values = _doubles(bytearray(CAPACITY * 8))
        self._used = 0
        self._keys: list[tuple[int, str, tuple[str, ...]]] = []  # (slot, metric, labels)
        self._directory: Path | None = None
        self._keyfile: int | None = None
        self._mapping: mmap.mmap | None = None
        self._full_warned = False

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._add(Counter(self, name, help_text, labelnames))

    def histogram(
        self, name: str, help_text: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        return self._add(Histogram(self, name, help_text, labelnames, buckets))

    def _add(self, metric: M) -> M:
        if metric.name in self.metrics:
            raise ValueError(f"metric {metric.name} is defined twice")
        self.metrics[metric.name] = metric
        return metric

    @property
    def directory(self) -> Path | None:
        return self._directory

    # ------------------------------------------------------------------ binding series

    def _bind(self, metric: Metric, labels: tuple[str, ...]) -> Child:
        if len(labels) != len(metric.labelnames):
            raise ValueError(f"{metric.name} takes labels {metric.labelnames}, got {labels}")
        with self._lock:
            child = metric._children.get(labels)
            if child is not None:
                return child
            if len(metric._children) >= MAX_CHILDREN:
                # An unbounded label (a new errcode per call, say) must not eat the slots.
                labels = (OTHER,) * len(labels)
                child = metric._children.get(labels)
                if child is not None:
                    return child
            slot = self._allocate(metric.width)
            if slot is None:
                if not self._full_warned:
                    self._full_warned = True
                    _log.warning(
                        "metrics: all %d slots are used; new series are not kept", CAPACITY
                    )
                scratch = _doubles(bytearray(metric.width * 8))
                return metric._make(scratch, 0)  # counted nowhere, so never exported
            child = metric._make(self._values, slot)
            metric._children[labels] = child
            self._keys.append((slot, metric.name, labels))
            self._write_key(slot, metric.name, labels)
            return child

    def _allocate(self, width: int) -> int | None:
        if self._used + width > CAPACITY:
            return None
        slot = self._used
        self._used += width
        return slot

    def _write_key(self, slot: int, name: str, labels: tuple[str, ...]) -> None:
        if self._keyfile is not None:
            # One write(2) per line on an O_APPEND file: a reader never sees half a line
            # (and ignores an unfinished last one anyway).
            os.write(self._keyfile, _key_line(slot, name, labels))

    # ------------------------------------------------------------------ sharing

    def share(self, directory: Path) -> None:
        """Keep this process's values in a file of ``directory``, mapped into memory, so that
        any process sharing the directory reads them in ``collect``. Idempotent."""
        directory = Path(directory)
        with self._lock:
            if self._directory == directory:
                return
            if self._directory is not None:
                raise RuntimeError(f"metrics are already shared through {self._directory}")
            directory.mkdir(parents=True, exist_ok=True)
            stem = directory / f"{os.getpid()}-{secrets.token_hex(4)}"
            # The values first: a reader that finds the keys file always finds the values.
            fd = os.open(stem.with_suffix(_VALUES), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, CAPACITY * 8)
                mapping = mmap.mmap(fd, CAPACITY * 8)
            finally:
                os.close(fd)
            shared = _doubles(mapping)
            shared[: self._used] = self._values[: self._used]
            keyfile = os.open(
                stem.with_suffix(_KEYS), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600
            )
            os.write(keyfile, b"".join(_key_line(*key) for key in self._keys))
            self._mapping, self._keyfile, self._directory = mapping, keyfile, directory
            self._values = shared
            for metric in self.metrics.values():
                for child in metric._children.values():
                    child._v = shared

    # ------------------------------------------------------------------ reading

    def collect(self) -> tuple[dict[tuple[str, tuple[str, ...]], list[float]], int]:
        """Every series' slots, summed over the processes that share the directory (only
        this process's when it shares none), and how many processes that was."""
        if self._directory is None:
            return self._own(), 1
        totals: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        processes = 0
        for keys_path in sorted(self._directory.glob(f"*{_KEYS}")):
            values_path = keys_path.with_suffix(_VALUES)
            try:
                key_text = keys_path.read_bytes()
                raw = values_path.read_bytes()
            except FileNotFoundError:
                continue  # cleared under us (the server is stopping)
            processes += 1
            values = _doubles(raw if len(raw) % 8 == 0 else b"")
            for slot, name, labels in _parse_keys(key_text):
                metric = self.metrics.get(name)
                if metric is None or slot + metric.width > len(values):
                    continue  # a series of another version of wxlogin, or a torn file
                into = totals.setdefault((name, labels), [0.0] * metric.width)
                for offset in range(metric.width):
                    into[offset] += values[slot + offset]
        return totals, processes

    def _own(self) -> dict[tuple[str, tuple[str, ...]], list[float]]:
        own: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        for slot, name, labels in list(self._keys):
            width = self.metrics[name].width
            own[(name, labels)] = list(self._values[slot : slot + width])
        return own


def _doubles(buffer: bytes | bytearray | mmap.mmap) -> Values:
    view: Values = memoryview(buffer).cast("d")
    return view


def _key_line(slot: int, name: str, labels: tuple[str, ...]) -> bytes:
    return f"{slot}\t{name}\t{json.dumps(labels)}\n".encode()


def _parse_keys(text: bytes) -> Iterable[tuple[int, str, tuple[str, ...]]]:
    for line in text.split(b"\n")[:-1]:  # the last piece is "" or a line still being written
        with contextlib.suppress(ValueError):
            slot, name, labels = line.decode().split("\t")
            parsed = json.loads(labels)
            if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
                yield int(slot), name, tuple(parsed)


def clear_directory(directory: Path) -> None:
    """Remove every process's files from ``directory`` (a fresh start for a server)."""
    for pattern in (f"*{_KEYS}", f"*{_VALUES}"):
        for path in Path(directory).glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
