"""The retry schedule and the dead decision are pure: exact values, no clock."""

from datetime import UTC, datetime, timedelta

import pytest

from outbox.retry import backoff_seconds, retry_at

NOW = datetime(2031, 5, 17, 8, 30, 15, 123457, tzinfo=UTC)


def schedule(max_attempts: int, base: float = 1.0, cap: float = 300.0) -> list[float | None]:
    """Delay after each failed attempt, None once the record is dead."""
    delays: list[float | None] = []
    for attempts_before in range(max_attempts):
        when = retry_at(
            attempts_before, NOW, max_attempts=max_attempts, base_seconds=base, max_seconds=cap
        )
        delays.append(None if when is None else (when - NOW).total_seconds())
    return delays


def test_delays_double_from_the_base_then_the_record_dies() -> None:
    assert schedule(5, base=2.0) == [2.0, 4.0, 8.0, 16.0, None]


def test_delays_never_exceed_the_cap() -> None:
    assert schedule(8, base=1.0, cap=10.0) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, None]


def test_one_attempt_in_total_means_dead_at_the_first_failure() -> None:
    assert schedule(1) == [None]


def test_attempts_beyond_the_maximum_stay_dead() -> None:
    assert retry_at(12, NOW, max_attempts=3, base_seconds=1, max_seconds=9) is None


def test_a_huge_attempt_count_is_capped_without_overflow() -> None:
    assert backoff_seconds(10_000, base_seconds=1.0, max_seconds=60.0) == 60.0
    when = retry_at(98, NOW, max_attempts=100, base_seconds=1.0, max_seconds=3600.0)
    assert when == NOW + timedelta(hours=1)


def test_the_retry_time_keeps_microseconds_and_timezone() -> None:
    when = retry_at(0, NOW, max_attempts=3, base_seconds=0.5, max_seconds=9)
    assert when == NOW + timedelta(milliseconds=500)
    assert when is not None and when.tzinfo is UTC


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        retry_at(0, NOW, max_attempts=0, base_seconds=1, max_seconds=2)
    with pytest.raises(ValueError):
        backoff_seconds(-1, base_seconds=1, max_seconds=2)
