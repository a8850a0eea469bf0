"""Reconnection delays: full-jitter exponential backoff, reset after a healthy connection.

Pure: time is passed in and randomness is injected, so the policy is tested without sleeping.
"""

import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

DelayKind = Literal["none", "immediate", "backoff", "throttled"]
"""``none``: no delay and no attempt counted (the client closed on purpose and knows why);
``immediate``: no delay when the last connection was healthy (no attempt counted since),
else as ``backoff``; ``backoff``: full jitter; ``throttled``: a floor plus full jitter."""


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Delays in seconds."""

    initial_delay: float = 0.5
    """Upper bound of the first delay."""
    max_delay: float = 30.0
    """Upper bound of every delay, however many attempts failed."""
    reset_after: float = 10.0
    """A connection welcomed and kept at least this long resets the attempt count."""
    throttled_min_delay: float = 5.0
    """Floor of the delay after 4429 (too many connections): back off longer."""

    def __post_init__(self) -> None:
        if not 0 <= self.initial_delay <= self.max_delay:
            raise ValueError("backoff needs 0 <= initial_delay <= max_delay")


class Backoff:
    """Counts consecutive failed attempts and turns them into delays."""

    def __init__(
        self, policy: BackoffPolicy | None = None, random: Callable[[], float] = _random.random
    ) -> None:
        """``random()`` returns a float in [0, 1), like :func:`random.random`."""
        self.policy = policy or BackoffPolicy()
        self._random = random
        self._failures = 0
        self._connected_at: float | None = None

    @property
    def attempts(self) -> int:
        """Consecutive attempts since the last healthy connection."""
        return self._failures

    def next(self, kind: DelayKind) -> float:
        """The delay (seconds) before the next attempt; counts one more attempt.

        ``backoff`` is uniform in [0, min(max, initial * 2**attempts)); ``throttled`` adds
        ``throttled_min_delay`` to that, so it is bounded by floor + max.
        """
        if kind == "none":
            return 0.0
        attempt = self._failures
        self._failures += 1
        if kind == "immediate" and attempt == 0:
            return 0.0
        ceiling = min(self.policy.max_delay, self.policy.initial_delay * 2.0 ** min(attempt, 64))
        jitter = self._random() * ceiling
        return self.policy.throttled_min_delay + jitter if kind == "throttled" else jitter

    def connected(self, now: float) -> None:
        """A connection was welcomed at ``now``."""
        self._connected_at = now

    def disconnected(self, now: float) -> None:
        """The connection ended at ``now``: reset the count when it stayed up long enough."""
        if self._connected_at is not None and now - self._connected_at >= self.policy.reset_after:
            self._failures = 0
        self._connected_at = None

    def reset(self) -> None:
        """Forget every failure."""
        self._failures = 0
        self._connected_at = None
