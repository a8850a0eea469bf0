"""When a record whose routing failed is tried again, or that it is dead.

A pure decision over the attempt count and ``now``: deterministic exponential backoff with a
cap, so that a schedule can be asserted exactly. Jitter is not needed here: a single worker
holds the routing lease, so there is no herd of clients retrying in step.
"""

from datetime import datetime, timedelta

# 2**64 seconds is far beyond any cap; clamping the exponent keeps the float finite.
_MAX_EXPONENT = 64


def backoff_seconds(attempts_before: int, *, base_seconds: float, max_seconds: float) -> float:
    """The delay after a failure that follows ``attempts_before`` earlier failures.

    ``base_seconds * 2 ** attempts_before``, never more than ``max_seconds``.
    """
    if attempts_before < 0:
        raise ValueError("attempts_before must be >= 0")
    exponent = min(attempts_before, _MAX_EXPONENT)
    return float(min(max_seconds, base_seconds * 2.0**exponent))


def retry_at(
    attempts_before: int,
    now: datetime,
    *,
    max_attempts: int,
    base_seconds: float,
    max_seconds: float,
) -> datetime | None:
    """When to try a record again after a failed attempt made at ``now``.

    ``attempts_before`` counts the failed attempts recorded before this one, so this failure
    is attempt number ``attempts_before + 1``. Returns ``None`` when that makes
    ``max_attempts`` attempts in total: the record is dead. Otherwise returns
    ``now + base_seconds * 2 ** attempts_before``, capped at ``now + max_seconds``.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    if attempts_before + 1 >= max_attempts:
        return None
    delay = backoff_seconds(attempts_before, base_seconds=base_seconds, max_seconds=max_seconds)
    return now + timedelta(seconds=delay)
