"""Batched cumulative acknowledgements: ack the highest processed seq at most every
``max_delay`` seconds, or at once after ``max_items`` processed notifications.

Pure: the caller passes ``now`` and owns the timer (see :meth:`AckBatcher.due_at`).
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AckPolicy:
    max_delay: float = 1.0
    """The longest a processed seq waits before it is acknowledged (seconds)."""
    max_items: int = 100
    """Acknowledge at once when this many notifications are waiting."""

    def __post_init__(self) -> None:
        if self.max_items < 1 or self.max_delay < 0:
            raise ValueError("acks need max_items >= 1 and max_delay >= 0")


class AckBatcher:
    """Decides when to send ``{"type":"ack","seq":S}`` and with which S."""

    def __init__(self, policy: AckPolicy | None = None) -> None:
        self.policy = policy or AckPolicy()
        self._pending = 0
        self._sent = 0
        self._count = 0
        self._first_at: float | None = None

    @property
    def last_sent(self) -> int:
        """The highest seq handed out by :meth:`take`."""
        return self._sent

    @property
    def has_pending(self) -> bool:
        """True when a seq is waiting to be acknowledged."""
        return self._pending > self._sent

    def processed(self, seq: int, now: float) -> bool:
        """Record that ``seq`` was processed at ``now``.

        Returns True when the ack is due at once (``max_items`` reached); otherwise the caller
        flushes at :meth:`due_at`. Seqs at or below what is already recorded are ignored.
        """
        if seq <= max(self._pending, self._sent):
            return False
        self._pending = seq
        self._count += 1
        if self._first_at is None:
            self._first_at = now
        return self._count >= self.policy.max_items

    def due_at(self) -> float | None:
        """When the waiting ack must be sent, or None when nothing waits."""
        if not self.has_pending or self._first_at is None:
            return None
        return self._first_at + self.policy.max_delay

    def take(self) -> int | None:
        """The seq to send now, or None when nothing waits; it counts as sent."""
        if not self.has_pending:
            return None
        self._sent = self._pending
        self._count = 0
        self._first_at = None
        return self._sent

    def rearm(self, position: int, now: float) -> None:
        """A new connection starts at ``position``: acknowledge it again (the last ack may
        have been lost with the old socket; an equal ack is a no-op on the server)."""
        self._pending = self._sent = self._count = 0
        self._first_at = None
        if position > 0:
            self.processed(position, now)
