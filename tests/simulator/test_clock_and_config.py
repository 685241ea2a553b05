"""SimClock and SimulatorConfig."""

from __future__ import annotations

import time

import pytest

from wxlogin.simulator import SimClock, SimulatorConfig


def test_the_clock_follows_its_source_plus_the_offset() -> None:
    now = [100.0]
    clock = SimClock(lambda: now[0])
    assert clock() == clock.now() == 100.0
    assert clock.advance(50) == 150.0
    now[0] = 110.0
    assert clock() == 160.0 and clock.offset == 50.0
    assert repr(clock) == "SimClock(offset=50)"


def test_the_clock_never_goes_back() -> None:
    with pytest.raises(ValueError, match="forward"):
        SimClock().advance(-0.001)


def test_the_default_clock_is_real_time() -> None:
    assert abs(SimClock()() - time.time()) < 5


@pytest.mark.parametrize(
    "field", ["code_ttl", "phone_code_ttl", "session_key_lifetime", "access_token_ttl"]
)
def test_lifetimes_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SimulatorConfig(**{field: 0})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["latency_ms", "token_daily_quota", "session_key_min_rotation"])
def test_limits_must_not_be_negative(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SimulatorConfig(**{field: -1})  # type: ignore[arg-type]
