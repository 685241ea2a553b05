"""The Prometheus text exposition format (version 0.0.4) of a ``Registry``'s values."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wxlogin.metrics._registry import Histogram, Registry

__all__ = ["CONTENT_TYPE", "Gauge", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Gauge:
    """A value computed when the scrape is answered (not kept in the registry)."""

    name: str
    help: str
    samples: Sequence[tuple[Sequence[tuple[str, str]], float]]  # (label pairs, value)


def render(registry: Registry, gauges: Iterable[Gauge] = ()) -> bytes:
    """Every metric of ``registry`` (summed over the processes sharing it), then ``gauges``."""
    totals, processes = registry.collect()
    by_metric: dict[str, list[tuple[tuple[str, ...], list[float]]]] = {}
    for (name, labels), values in totals.items():
        by_metric.setdefault(name, []).append((labels, values))
    lines: list[str] = []
    for metric in registry.metrics.values():
        lines.append(f"# HELP {metric.name} {_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, values in sorted(by_metric.get(metric.name, ())):
            pairs: Sequence[tuple[str, str]] = list(zip(metric.labelnames, labels, strict=True))
            if isinstance(metric, Histogram):
                lines += _histogram(metric, pairs, values)
            else:
                lines.append(f"{metric.name}{_labels(pairs)} {_number(values[0])}")
    own = Gauge(
        "wxlogin_metrics_processes",
        "Processes whose counts this scrape adds up (workers, including any that have exited).",
        [((), float(processes))],
    )
    for gauge in (*gauges, own):
        lines.append(f"# HELP {gauge.name} {_help(gauge.help)}")
        lines.append(f"# TYPE {gauge.name} gauge")
        for pairs, value in gauge.samples:
            lines.append(f"{gauge.name}{_labels(pairs)} {_number(value)}")
    lines.append("")
    return "\n".join(lines).encode()


def _histogram(
    metric: Histogram, pairs: Sequence[tuple[str, str]], values: list[float]
) -> list[str]:
    lines = []
    cumulative = 0.0
    for bound, count in zip((*metric.bounds, math.inf), values, strict=False):
        cumulative += count
        le = "+Inf" if bound == math.inf else _number(bound)
        lines.append(f"{metric.name}_bucket{_labels([*pairs, ('le', le)])} {_number(cumulative)}")
    lines.append(f"{metric.name}_sum{_labels(pairs)} {_number(values[-1])}")
    lines.append(f"{metric.name}_count{_labels(pairs)} {_number(cumulative)}")
    return lines


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{_label_value(value)}"' for name, value in pairs) + "}"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
