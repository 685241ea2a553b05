"""Draw the side-by-side bench's chart from its JSON (run in bench/.venv, which has matplotlib).

Left: logins/s of every contender at each connection count (bar labels: p99 latency).
Right: wxlogin's requests/s per endpoint and backend at the most connections measured.

    bench/.venv/bin/python bench/chart.py bench/results/side_by_side-....json docs/x.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: write the file only
import matplotlib.pyplot as plt  # after the backend choice
from matplotlib.patches import Patch

from _report import NOISY_CORES

SHORT_NAMES = {
    "wxlogin_sqlite": "wxlogin\nSQLite, 1 proc",
    "wxlogin_postgres": "wxlogin\nPG + Redis, 2 workers",
    "express": "Express +\nrequest",
    "flask": "Flask + wechatpy\ngunicorn 4x8",
    "starlette": "Starlette +\naiohttp, 2 workers",
}
ENDPOINTS = (
    ("login", "POST /auth/login"),
    ("refresh", "POST /auth/refresh"),
    ("me", "GET /me"),
    ("healthz", "GET /healthz"),
)


def rate(entry: dict[str, Any], kind: str, connections: int) -> float:
    row = entry.get(kind, {}).get(str(connections))
    return float(row["rate"]) if row else 0.0


def noisy(entry: dict[str, Any], kind: str, connections: int) -> bool:
    """Did processes outside the bench take more than NOISY_CORES during this run?"""
    row = entry.get(kind, {}).get(str(connections))
    if not row or not row["seconds"]:
        return False
    return bool(row["other_cpu_s"] / row["seconds"] > NOISY_CORES)


def hatch_noisy(bars: Any, flags: list[bool], label: str, handles: list[Patch]) -> None:
    """Hatch the noisy bars; the legend gets a plain swatch (not the first bar's hatch)."""
    for bar, flag in zip(bars, flags, strict=True):
        if flag:
            bar.set_hatch("///")
    handles.append(Patch(facecolor=bars[0].get_facecolor(), label=label))


def draw(report: dict[str, Any], out: Path) -> None:
    contenders = {k: v for k, v in report["contenders"].items() if "login" in v}
    conns: list[int] = report["settings"]["connections"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [3, 2]})
    left_legend: list[Patch] = []
    right_legend: list[Patch] = []
    width = 0.8 / len(conns)
    for i, c in enumerate(conns):
        xs = [n + (i - (len(conns) - 1) / 2) * width for n in range(len(contenders))]
        values = [rate(entry, "login", c) for entry in contenders.values()]
        bars = left.bar(xs, values, width)
        flags = [noisy(entry, "login", c) for entry in contenders.values()]
        hatch_noisy(bars, flags, f"{c} connections", left_legend)
        p99s = [
            entry["login"].get(str(c), {}).get("latency_ms", {}).get("p99")
            for entry in contenders.values()
        ]
        left.bar_label(
            bars, labels=[f"p99\n{p:.0f} ms" if p else "" for p in p99s], fontsize=7, padding=2
        )
    left.set_xticks(range(len(contenders)))
    left.set_xticklabels([SHORT_NAMES.get(k, k) for k in contenders], fontsize=8)
    left.set_ylabel("successful logins per second")
    left.set_title(
        f"Login through a {report['settings']['upstream_latency_ms']:g} ms upstream stub, "
        f"unique code per request"
    )
    left.legend(handles=left_legend, fontsize=8)
    left.margins(y=0.18)

    top = max(conns)
    backends = [k for k in ("wxlogin_sqlite", "wxlogin_postgres") if k in contenders]
    width = 0.8 / max(1, len(backends))
    for i, key in enumerate(backends):
        xs = [n + (i - (len(backends) - 1) / 2) * width for n in range(len(ENDPOINTS))]
        values = [rate(contenders[key], kind, top) for kind, _ in ENDPOINTS]
        bars = right.bar(xs, values, width)
        flags = [noisy(contenders[key], kind, top) for kind, _ in ENDPOINTS]
        hatch_noisy(bars, flags, SHORT_NAMES[key].replace("\n", " "), right_legend)
        right.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, padding=2)
    right.set_xticks(range(len(ENDPOINTS)))
    right.set_xticklabels([label for _, label in ENDPOINTS], fontsize=8)
    right.set_ylabel("requests per second")
    right.set_title(f"wxlogin endpoints at {top} connections")
    right.legend(handles=right_legend, fontsize=8)
    right.margins(y=0.12)

    machine = report["machine"]
    fig.suptitle(
        f"make bench, {report['started_at']}: everything on {machine['cpus']} shared cores "
        f"({machine['cpu_model']}); wxlogin {report['versions']['wxlogin_commit']}\n"
        f"hatched: processes outside the bench took more than {NOISY_CORES:g} of a core "
        "during that run (its rate is understated)",
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
