"""The metrics registry: exposition read back by prometheus-client's parser, histograms,
label escaping, the cap on label combinations, and processes adding up through files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wxlogin.metrics import Registry, clear_directory, render
from wxlogin.metrics._registry import CAPACITY, MAX_CHILDREN, OTHER


def samples(registry: Registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(render(registry).decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_counters_and_histograms_in_the_text_format() -> None:
    registry = Registry()
    calls = registry.counter("t_calls_total", "Calls.", ("outcome",))
    took = registry.histogram("t_seconds", "Time.", ("route",), (0.1, 1.0))
    calls.labels("ok").inc()
    calls.labels("ok").inc(2)
    calls.labels("failed").inc()
    for seconds in (0.05, 0.1, 0.5, 3.0):  # 0.1 is in the 0.1 bucket: le means <=
        took.labels("/me").observe(seconds)
    found = samples(registry)
    assert found[("t_calls_total", (("outcome", "ok"),))] == 3
    assert found[("t_calls_total", (("outcome", "failed"),))] == 1
    buckets = {
        le: found[("t_seconds_bucket", (("le", le), ("route", "/me")))]
        for le in ("0.1", "1", "+Inf")
    }
    assert buckets == {"0.1": 2, "1": 3, "+Inf": 4}
    assert found[("t_seconds_count", (("route", "/me"),))] == 4
    assert math.isclose(found[("t_seconds_sum", (("route", "/me"),))], 3.65)


def test_label_values_are_escaped() -> None:
    registry = Registry()
    registry.counter("t_total", "Help with a \\ and a\nnewline.", ("v",)).labels('a"b\\c\nd').inc()
    text = render(registry).decode()
    assert 't_total{v="a\\"b\\\\c\\nd"} 1' in text
    assert "# HELP t_total Help with a \\\\ and a\\nnewline." in text
    assert samples(registry)[("t_total", (("v", 'a"b\\c\nd'),))] == 1


def test_an_unbounded_label_is_capped() -> None:
    registry = Registry()
    errors = registry.counter("t_errors_total", "Errors.", ("errcode",))
    for n in range(MAX_CHILDREN + 50):
        errors.labels(str(n)).inc()
    found = samples(registry)
    assert len([k for k in found if k[0] == "t_errors_total"]) == MAX_CHILDREN + 1
    assert found[("t_errors_total", (("errcode", OTHER),))] == 50


def test_a_full_registry_keeps_counting_what_it_has() -> None:
    registry = Registry()
    wide = registry.histogram("t_wide", "Wide.", ("n",), [float(b) for b in range(1, 100)])
    kept = wide.labels("first")
    series = CAPACITY // 101
    for n in range(series + 5):  # more series than slots
        wide.labels(str(n)).observe(1.0)
    kept.observe(2.0)
    found = samples(registry)
    assert found[("t_wide_count", (("n", "first"),))] == 1
    assert len([k for k in found if k[0] == "t_wide_count"]) == series


def test_wrong_label_count_is_a_programming_error() -> None:
    registry = Registry()
    counter = registry.counter("t_total", "T.", ("a", "b"))
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("only-one")
    with pytest.raises(ValueError, match="defined twice"):
        registry.counter("t_total", "Again.")


def test_processes_sharing_a_directory_add_up(tmp_path: Path) -> None:
    # Two registries stand for two worker processes (each writes files of its own).
    first, second = Registry(), Registry()
    for registry in (first, second):
        registry.counter("t_logins_total", "Logins.", ("outcome",))
        registry.histogram("t_seconds", "Time.", (), (1.0,))
    first.metrics["t_logins_total"].labels("ok").inc(5)  # type: ignore[attr-defined]
    first.share(tmp_path)  # counts made before sharing are kept
    first.share(tmp_path)  # idempotent
    second.share(tmp_path)
    first.metrics["t_logins_total"].labels("ok").inc()  # type: ignore[attr-defined]
    second.metrics["t_logins_total"].labels("ok").inc(2)  # type: ignore[attr-defined]
    second.metrics["t_logins_total"].labels("failed").inc()  # type: ignore[attr-defined]
    second.metrics["t_seconds"].labels().observe(0.5)  # type: ignore[attr-defined]
    for reader in (first, second):  # whichever process answers the scrape
        found = samples(reader)
        assert found[("t_logins_total", (("outcome", "ok"),))] == 8
        assert found[("t_logins_total", (("outcome", "failed"),))] == 1
        assert found[("t_seconds_count", ())] == 1
        assert found[("wxlogin_metrics_processes", ())] == 2
    with pytest.raises(RuntimeError, match="already shared"):
        first.share(tmp_path / "elsewhere")
    clear_directory(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_reader_skips_what_it_cannot_read(tmp_path: Path) -> None:
    registry = Registry()
    registry.counter("t_total", "T.").labels().inc()
    registry.share(tmp_path)
    # A series of another version, a torn line, a line still being written, a stray file.
    (tmp_path / "1-dead.values").write_bytes(b"\0" * 8 * 4)
    (tmp_path / "1-dead.keys").write_bytes(
        b"0\tnot_ours_total\t[]\nbroken\n0\tt_total\t[]\n1\tt_tot"
    )
    (tmp_path / "2-gone.keys").write_bytes(b"0\tt_total\t[]\n")  # its values are gone
    found = samples(registry)
    assert found[("t_total", ())] == 1
    assert found[("wxlogin_metrics_processes", ())] == 2
