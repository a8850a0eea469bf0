"""Exact, timezone-aware time stored as integer microseconds since the Unix epoch.

BSON dates keep milliseconds and SQLite has no time type, so both stores (and the live
signal) keep times as microseconds; round trips are exact.
"""

from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# Both run once or twice per routed notification, so they stay in integer arithmetic and
# positional arguments: a quarter to a third faster than timedelta division and keywords.
def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime; ``ValueError`` if naive."""
    if moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
    since = moment - EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def from_micros(value: int) -> datetime:
    """The UTC datetime ``value`` microseconds after the epoch (exact inverse of to_micros)."""
    return EPOCH + timedelta(0, 0, value)
