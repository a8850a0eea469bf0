"""The storage port: everything tidings needs from a store, host transactions included.

A store is two things, each a protocol here:

- :class:`OutboxStore`, an open store: what the worker, delivery and operators do with it;
- :class:`StoreAdapter`, a kind of store: how to open and migrate one from the settings, and
  how to join the host application's own transactions on it (the write that makes G1 hold).

Each adapter is one folder under ``outbox/stores/`` with everything it needs (connection,
error translation, schema applier, host-transaction writer), and is the only code that imports
its driver; its schema history lives under ``migrations/<store>/``. ``outbox.stores`` picks the
adapter from the store URL or from the host's session. Two adapters exist and pass one
contract suite (``tests/contract``): ``sqlite`` (the embedded default) and ``mongo``. See
``docs/adding-a-store.md``.

Time is always passed in as ``now`` (timezone-aware UTC); adapters never read the clock.
Every method may raise :class:`foundation.errors.StoreError` (or ``StoreUnavailable``).
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from foundation.settings import Settings
from outbox.records import AckOutcome, InboxEntry, LagFigures, OutboxRecord, Route
from outbox.stream import (
    Appended,
    InboxItem,
    ItemFilter,
    Mark,
    MarkResult,
    StreamHead,
    StreamItem,
    TrimReport,
)


class CommitWatch(Protocol):
    """A cheap way for the worker to notice commits made through other connections."""

    def changed(self) -> bool:
        """Whether anything was committed since the last call. Called on the event loop
        about every millisecond: it must not block and must cost microseconds. May answer
        ``True`` for nothing (the worker then looks and finds nothing); never ``False`` after
        a commit it has not reported."""

    def close(self) -> None:
        """Release the watch's connection."""


class OutboxStore(Protocol):
    """Durable outbox, per-user inboxes with gap-free sequence numbers, and acks."""

    async def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    async def ping(self) -> None:
        """Return when the store answers; raise ``StoreUnavailable`` otherwise."""

    async def check_writable(self) -> None:
        """Return when the store would take a write now; raise ``StoreUnavailable`` naming
        the cause otherwise (a read-only file or directory, a full disk, no primary).

        For readiness probes: quick, and it leaves no data behind (a store may keep a marker
        of its own, overwritten by every check).
        """

    # Emitting outside a host transaction (tests, benchmarks, the CLI). The host application
    # goes through ``api_hooks`` so that its records join its own transaction.
    async def add_records(self, records: Sequence[OutboxRecord]) -> None:
        """Write ``records`` as pending in one transaction of the store's own."""

    # Routing (the worker).
    def commit_watch(self) -> CommitWatch | None:
        """A new :class:`CommitWatch` on this store, for stores whose writers all share this
        machine and can be watched for the price of a few microseconds; ``None`` otherwise
        (the worker then relies on the host's wake-ups and its sweep). The caller closes it,
        on the thread that asked for it.
        """

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
        Returns the entries created, in seq order per user. This is :meth:`append_routes`
        returning its ``entries``.
        """

    async def append_routes(self, owner: str, now: datetime, routes: Sequence[Route]) -> Appended:
        """:meth:`append_to_inbox`, placing everything on the users' streams (protocol v2).

        In the same transaction: each entry gets the user's next ``pos`` and the counts after
        it; an entry whose record has a ``collapse_key`` retracts the user's notification
        holding that key (its ``replaces``); a ``RETRACT`` record creates no entry and no body,
        and retracts for each recipient (``Everyone()``: for every holder) the notification
        holding its key, appending a ``retract`` change. The counters (``pos``, unread,
        unarchived) move with each entry. ``pos`` of a user is 1, 2, 3, ... with no gap over
        notifications and changes together, and follows the v1 seq among notifications.
        """

    async def record_failure(
        self, owner: str, now: datetime, record_id: str, error: str, retry_at: datetime | None
    ) -> None:
        """Count a failed attempt: ``attempts += 1``, ``last_error = error``.

        With ``retry_at`` the record stays pending until then; with ``None`` it becomes dead.
        A record no longer in the outbox (routed meanwhile) is left alone. Fenced like
        :meth:`append_routes`: raises ``LeaseLost``, recording nothing, unless ``owner`` holds
        the routing lease at ``now``, checked in the same transaction (a worker paused past
        its lease cannot fail, or kill, a record its successor owns).
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

    async def count_after(self, user_id: str, after_seq: int) -> int:
        """How many of the user's retained entries have ``seq > after_seq``.

        With the device's stored ack, this is its unread count: what a client can still fetch
        after that ack, trimmed entries not counted.
        """

    async def acked(self, user_id: str, device: str) -> int:
        """The stored cumulative ack of (user, device), 0 when none."""

    async def record_ack(self, user_id: str, device: str, seq: int) -> AckOutcome:
        """Store a cumulative ack when it advances; never store one above the head.

        ``seq`` equal to the stored ack is ``UNCHANGED``; below it ``STALE``; above the user's
        head ``ABOVE_HEAD``; otherwise the ack is stored (``STORED``). Acks never move back,
        even when two calls race.
        """

    # Inbox state (protocol v2).
    async def stream_head(self, user_id: str) -> StreamHead:
        """The user's stream ``pos``, v1 head and counts, read together (zeros when none)."""

    async def read_stream_after(self, user_id: str, after_pos: int, limit: int) -> list[StreamItem]:
        """Stream entries of ``user_id`` with ``pos > after_pos``, ascending, at most ``limit``.

        Notifications carry the counts right after them and the seq they replaced, changes
        their op, the seqs they altered or ``upto``, and the counts after them.
        """

    async def apply_mark(self, user_id: str, mark: Mark, now: datetime) -> MarkResult:
        """Set the state ``mark`` asks for, in one transaction with the change and the counts.

        ``ABOVE_HEAD`` (nothing stored) when it names a seq above the v1 head; ``UNCHANGED``
        (nothing appended) when every named notification that is retained and not retracted
        already has that state; else ``APPLIED``: the state is set, a change at the next
        ``pos`` names the seqs altered (or ``upto``), and the counts move by as many.
        """

    async def list_items(
        self, user_id: str, after_seq: int, limit: int, chosen: ItemFilter
    ) -> list[InboxItem]:
        """Retained notifications of ``user_id`` with ``seq > after_seq`` that match
        ``chosen``, with their current state, ascending by seq, at most ``limit``."""

    async def stream_acked(self, user_id: str, device: str) -> int:
        """The stored stream ack (a ``pos``) of (user, device), 0 when none."""

    async def record_stream_ack(self, user_id: str, device: str, pos: int) -> AckOutcome:
        """:meth:`record_ack` for stream positions, against the stream ``pos`` as the head.

        Stream acks and v1 acks are kept apart: neither moves the other.
        """

    # Retention.
    async def trim(self, before: datetime) -> int:
        """Delete inbox entries routed before ``before`` (and bodies no entry needs).

        Heads and acks are kept, so seqs continue after a trim. Returns entries deleted.
        This is :meth:`trim_stream` with ``now = before``.
        """

    async def trim_stream(self, before: datetime, now: datetime) -> TrimReport:
        """:meth:`trim`, also deleting changes made before ``before``, in one transaction per
        chunk with the counts: each user whose notifications were deleted gets ``trim``
        changes made at ``now`` naming them, and the counts drop by what they counted for.
        Returns the notification entries deleted and the changes appended.
        """


class StoreAdapter(Protocol):
    """One kind of store: opening and migrating it, and the host application's side.

    The host side takes the driver objects the host already has (a connection, a client, a
    session) as plain objects: ``api_hooks`` never names a driver type.
    """

    @property
    def name(self) -> str:
        """A short name for messages (``"sqlite"``, ``"mongodb"``)."""

    async def open(self, settings: Settings) -> OutboxStore:
        """Connect to the store ``settings.store_url`` names; its schema must be migrated.

        Raises ``ConfigurationError`` when the schema is behind (telling to run ``tidings
        migrate``) or the store cannot do what tidings needs, ``StoreUnavailable`` when it
        does not answer.
        """

    async def migrate(self, settings: Settings) -> int:
        """Apply every missing schema version to the store; return how many ran."""

    @property
    def watches_commits(self) -> bool:
        """Whether this store's :meth:`OutboxStore.commit_watch` gives a watch: routing
        workers then notice commits by themselves, and a host may leave out the wake-up after
        a commit that follows a recent one (see ``api_hooks.Waker``)."""

    def connect_host(self, settings: Settings) -> Any:
        """A driver handle of the host's own on this store, to run its transactions on.

        The embedded store: a ``sqlite3.Connection`` to its file (autocommit mode: open
        transactions with ``BEGIN``); MongoDB: an ``AsyncMongoClient``. The caller closes it.
        """

    def owns_session(self, session: object) -> bool:
        """Whether ``session`` is a transaction handle of this store's driver."""

    async def write_records(
        self, session: Any, records: Sequence[OutboxRecord], *, database: str
    ) -> None:
        """Write ``records`` as pending inside the caller's open transaction on ``session``.

        Never begins, commits or rolls back: the records exist if and only if the caller
        commits (G1). Raises ``NotInTransaction`` and writes nothing for a session outside a
        transaction. ``database`` names the database of a store that has several.
        """

    def owns_client(self, target: object) -> bool:
        """Whether ``target`` is a client (or connection) of this store's driver."""

    async def run_in_transaction[T](
        self, target: Any, callback: Callable[[Any], Awaitable[T]], *, deadline_seconds: float
    ) -> T:
        """Run ``callback(session)`` in a transaction on ``target`` and commit it.

        Retries the whole callback by the driver's rules for transient conflicts, so a
        callback may run more than once; exceptions from it roll back and propagate.
        """
