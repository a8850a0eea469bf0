"""The storage port: what the worker, delivery and operators need from a store.

Two adapters implement it and pass one contract suite (``tests/contract``):
``outbox.sqlite_store.SqliteStore`` (the embedded default) and
``outbox.mongo_store.MongoStore``. Only adapter modules import a database driver.

Time is always passed in as ``now`` (timezone-aware UTC); adapters never read the clock.
Every method may raise :class:`tidings.errors.StoreError` (or ``StoreUnavailable``).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from outbox.records import AckOutcome, InboxEntry, LagFigures, OutboxRecord, Route


class OutboxStore(Protocol):
    """Durable outbox, per-user inboxes with gap-free sequence numbers, and acks."""

    async def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    async def ping(self) -> None:
        """Return when the store answers; raise ``StoreUnavailable`` otherwise."""

    # Emitting outside a host transaction (tests, benchmarks, the CLI). The host application
    # goes through ``api_hooks`` so that its records join its own transaction.
    async def add_records(self, records: Sequence[OutboxRecord]) -> None:
        """Write ``records`` as pending in one transaction of the store's own."""

    # Routing (the worker).
    async def claim_batch(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[OutboxRecord]:
        """Take or renew the routing lease for ``owner`` and return pending records.

        Returns up to ``limit`` pending records whose ``next_attempt_at`` is unset or
        ``<= now``, oldest first in the store's commit order (see the adapters for what that
        order is). Returns ``[]`` without waiting when another owner holds an unexpired lease.
        Only one owner holds the lease at a time, which is what makes G4 hold across workers.
        """

    async def append_to_inbox(
        self, owner: str, now: datetime, routes: Sequence[Route]
    ) -> list[InboxEntry]:
        """Route ``routes`` in one transaction, in the order given; the records leave the outbox.

        For each route: store its notification body if absent; for each recipient that does
        not already hold the notification id, append an entry with seq = head + 1 and
        ``routed_at = now``; delete the record from the outbox (its body stays for as long as
        entries need it). Recipients that already hold the notification are skipped (a
        repeated append is a no-op, G2). Seqs of a user are 1, 2, 3, ... with no gap (G3).

        Raises ``LeaseLost`` and writes nothing when ``owner`` no longer holds the lease.
        Returns the entries created, in seq order per user.
        """

    async def record_failure(self, record_id: str, error: str, retry_at: datetime | None) -> None:
        """Count a failed attempt: ``attempts += 1``, ``last_error = error``.

        With ``retry_at`` the record stays pending until then; with ``None`` it becomes dead.
        A record no longer in the outbox (routed meanwhile) is left alone.
        """

    async def release_lease(self, owner: str) -> None:
        """Give up the routing lease if ``owner`` holds it (clean shutdown)."""

    # Dead records (operators).
    async def list_dead(self, limit: int) -> list[OutboxRecord]:
        """Dead records, oldest first."""

    async def requeue_dead(self, record_ids: Sequence[str] | None, now: datetime) -> int:
        """Make dead records pending again with attempts reset; ``None`` means all of them.

        Returns how many records were re-queued.
        """

    async def lag(self) -> LagFigures:
        """Pending and dead counts, and the creation time of the oldest pending record.

        The oldest is the pending record first in claim order (see ``claim_batch``).
        """

    # Delivery.
    async def head(self, user_id: str) -> int:
        """The user's highest seq, 0 when the user has none."""

    async def read_inbox_after(self, user_id: str, after_seq: int, limit: int) -> list[InboxEntry]:
        """Entries of ``user_id`` with ``seq > after_seq``, ascending, at most ``limit``."""

    async def acked(self, user_id: str, device: str) -> int:
        """The stored cumulative ack of (user, device), 0 when none."""

    async def record_ack(self, user_id: str, device: str, seq: int) -> AckOutcome:
        """Store a cumulative ack when it advances; never store one above the head.

        ``seq`` equal to the stored ack is ``UNCHANGED``; below it ``STALE``; above the user's
        head ``ABOVE_HEAD``; otherwise the ack is stored (``STORED``). Acks never move back,
        even when two calls race.
        """

    # Retention.
    async def trim(self, before: datetime) -> int:
        """Delete inbox entries routed before ``before`` (and bodies no entry needs).

        Heads and acks are kept, so seqs continue after a trim. Returns entries deleted.
        """
