"""Exact, timezone-aware time stored as integer microseconds since the Unix epoch.

BSON dates keep milliseconds and SQLite has no time type, so both stores (and the live
signal) keep times as microseconds; round trips are exact.
"""

from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime; ``ValueError`` if naive."""
    if moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
    return (moment - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The UTC datetime ``value`` microseconds after the epoch (exact inverse of to_micros)."""
    return EPOCH + timedelta(microseconds=value)
