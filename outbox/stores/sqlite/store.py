"""The embedded SQLite adapter of the storage port: the default store.

Every operation runs on one dedicated thread per store, on one connection opened in
autocommit mode; each write is one explicit ``BEGIN IMMEDIATE`` transaction, so a writer takes
the database's single write lock before it reads anything it decides on. The file is in WAL
mode with ``synchronous=NORMAL``: readers never block the writer, and a process killed with
SIGKILL loses no committed transaction (only a power loss can drop the last commits). Several
processes (host app, worker, delivery nodes) may open one file at once; a writer waits up to the
busy timeout for the lock, then gets ``StoreUnavailable``. The store waits itself, in sleeps
of a tenth of a millisecond at first (``connection.retry_while_locked``), not with SQLite's
busy handler, whose sleeps grow to 100 ms.

Claim order is the outbox's ``position`` (see
``migrations/sqlite/v4_outbox_holds_pending_only.py``): each insert takes one more than the
highest position present, under the write lock, so positions follow commit order, which is
what G4 needs. The outbox holds pending records only; dead ones are in a table of their own
and keep their positions. Times are stored as
integer microseconds since the epoch, UTC, and come back as timezone-aware UTC datetimes;
naive datetimes are refused with ``ValueError``. ``sqlite3`` errors become ``StoreError`` or
``StoreUnavailable`` here.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Self

from foundation.errors import ConfigurationError, StoreError, StoreUnavailable
from migrations.sqlite import LATEST_SQLITE_VERSION
from outbox.records import AckOutcome, InboxEntry, LagFigures, OutboxRecord, Route
from outbox.stores.sqlite import dead_records, stream, stream_reads
from outbox.stores.sqlite import transactions as tx
from outbox.stores.sqlite.checkpointer import SAFETY_NET_PAGES, WalCheckpointer
from outbox.stores.sqlite.commits import DataVersionWatch
from outbox.stores.sqlite.connection import (
    BUSY_TIMEOUT_SECONDS,
    connect,
    probe_write,
    retry_while_locked,
    store_error,
)
from outbox.stores.sqlite.files import unwritable_reason
from outbox.stores.sqlite.schema import sqlite_schema_version
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


def _open_checked(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Connect to an existing, migrated store; ``ConfigurationError`` when it is not."""
    advice = "run `tidings migrate` first"
    if not path.exists():
        raise ConfigurationError(f"no tidings store at {path}: {advice}")
    try:
        conn = connect(path, create=False, busy_timeout=0)  # locks: retry_while_locked
    except sqlite3.Error as error:
        raise store_error(error, path) from error
    try:
        version = retry_while_locked(sqlite_schema_version, conn, busy_timeout)
    except sqlite3.Error as error:
        conn.close()
        raise store_error(error, path) from error
    if version < LATEST_SQLITE_VERSION:
        conn.close()
        raise ConfigurationError(
            f"the tidings store at {path} is at schema version {version}, "
            f"this code needs {LATEST_SQLITE_VERSION}: {advice}"
        )
    conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")  # see the checkpointer
    return conn


def _translated[T](
    operation: Callable[[sqlite3.Connection], T],
    conn: sqlite3.Connection,
    path: Path,
    busy_timeout: float,
) -> T:
    try:
        return retry_while_locked(operation, conn, busy_timeout)
    except sqlite3.Error as error:
        raise store_error(error, path) from error


def _check_writable(conn: sqlite3.Connection, path: Path) -> None:
    reason = unwritable_reason(path)
    if reason is not None:
        raise StoreUnavailable(f"the sqlite store cannot be written: {reason}")
    probe_write(conn)


class SqliteStore:
    """The storage port on one SQLite file (see the module docstring for the guarantees).

    Build it with :meth:`open`; calls run one at a time, in call order, on the store's thread.
    Its write-ahead log is checkpointed by a :class:`WalCheckpointer` of its own, off that
    thread.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        checkpointer: WalCheckpointer,
        path: Path,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> None:
        """Wrap ``conn`` on the file ``path``; ``conn`` must have been opened on ``executor``'s
        only thread, with a busy timeout of 0: each operation waits up to ``busy_timeout``
        for another connection's lock itself (:func:`retry_while_locked`).

        Must be called inside a running event loop: it starts ``checkpointer``'s task.
        """
        self._conn = conn
        self._path = path
        self._busy_timeout = busy_timeout
        self._executor = executor
        self.checkpointer = checkpointer
        self._checkpointing = asyncio.create_task(checkpointer.run(), name="sqlite-checkpoints")
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> Self:
        """Open the migrated store at ``path``; never creates or migrates the schema.

        Raises ``ConfigurationError`` (telling to run ``tidings migrate``) when the file is
        missing or its schema is behind :data:`LATEST_SQLITE_VERSION`, and
        ``StoreUnavailable`` when it cannot be opened. A newer schema is accepted: migrations
        only add. ``busy_timeout`` is how long a write waits for another process's lock.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _open_checked, path, busy_timeout)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(conn, executor, WalCheckpointer(path), path, busy_timeout)

    async def _run[T](self, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("the sqlite store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, _translated, operation, self._conn, self._path, self._busy_timeout
        )

    async def _write[T](self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write ``operation`` (its own transaction), then let the log be checkpointed."""
        try:
            return await self._run(operation)
        finally:
            self.checkpointer.wrote()

    async def close(self) -> None:
        """Close the connection after calls already made; later calls raise ``StoreError``."""
        if self._closed:
            return
        self._closed = True
        self._checkpointing.cancel()
        await asyncio.gather(self._checkpointing, return_exceptions=True)
        loop = asyncio.get_running_loop()
        try:
            await self.checkpointer.close()
            await loop.run_in_executor(self._executor, self._conn.close)
        finally:
            self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        """Return when the file answers a query."""
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def check_writable(self) -> None:
        """See the port. Asks the file system first (a read-only mount, file or directory, a
        full disk: see :mod:`outbox.stores.sqlite.files`), then begins a write and rolls it
        back; another process holding the write lock counts as writable (never waited for).
        """
        await self._run(lambda conn: _check_writable(conn, self._path))

    async def add_records(self, records: Sequence[OutboxRecord]) -> None:
        """Write ``records`` as pending in one transaction; an id already stored is skipped."""
        await self._write(lambda conn: tx.add(conn, records))

    def commit_watch(self) -> DataVersionWatch:
        """A :class:`DataVersionWatch` on this store's file (``StoreError`` when it cannot be
        opened); for the thread that asks, not the store's."""
        try:
            return DataVersionWatch.open(self._path)
        except sqlite3.Error as error:
            raise store_error(error, self._path) from error

    async def claim_batch(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[OutboxRecord]:
        """See the port. Lease and read happen in one write transaction; order is position."""
        return await self._write(lambda conn: tx.claim(conn, owner, now, lease_seconds, limit))

    async def append_to_inbox(
        self, owner: str, now: datetime, routes: Sequence[Route]
    ) -> list[InboxEntry]:
        """See the port. The entries come back in route order, hence seq order per user."""
        return (await self.append_routes(owner, now, routes)).entries

    async def append_routes(self, owner: str, now: datetime, routes: Sequence[Route]) -> Appended:
        """See the port; one ``BEGIN IMMEDIATE`` transaction."""
        return await self._write(lambda conn: tx.append(conn, owner, now, routes))

    async def claim_and_append(
        self,
        owner: str,
        now: datetime,
        lease_seconds: float,
        limit: int,
        resolve: Callable[[OutboxRecord], tuple[str, ...] | None],
    ) -> tuple[list[OutboxRecord], list[Route], Appended]:
        """:meth:`claim_batch`, then :meth:`append_routes` of the records ``resolve`` gives
        recipients for without waiting (claim order, up to the first it gives ``None`` for),
        in one call on the store's thread: a routing round whose audiences need no resolver
        costs one trip to that thread instead of two. ``resolve`` runs on that thread.
        Returns the records claimed, the routes appended and what was appended; raises as
        the two do.
        """
        return await self._write(
            lambda conn: tx.claim_and_append(conn, owner, now, lease_seconds, limit, resolve)
        )

    async def record_failure(
        self, owner: str, now: datetime, record_id: str, error: str, retry_at: datetime | None
    ) -> None:
        """See the port."""
        await self._write(
            lambda conn: dead_records.record_failure(conn, owner, now, record_id, error, retry_at)
        )

    async def release_lease(self, owner: str) -> None:
        """See the port."""
        await self._write(lambda conn: tx.release(conn, owner))

    async def list_dead(self, limit: int) -> list[OutboxRecord]:
        """Dead records in position (commit) order, oldest first."""
        return await self._run(lambda conn: dead_records.list_dead(conn, limit))

    async def requeue_dead(self, record_ids: Sequence[str] | None, now: datetime) -> int:
        """See the port. Re-queued records go back to the outbox with their positions (their
        place in claim order) and are due at once (``next_attempt_at`` cleared), so ``now`` is
        not needed here; ``last_error`` is kept for the record's history."""
        return await self._write(lambda conn: dead_records.requeue(conn, record_ids))

    async def lag(self) -> LagFigures:
        """See the port; read in one statement, so the figures are consistent."""
        return await self._run(dead_records.lag)

    async def head(self, user_id: str) -> int:
        """See the port."""
        return await self._run(lambda conn: tx.head(conn, user_id))

    async def read_inbox_after(self, user_id: str, after_seq: int, limit: int) -> list[InboxEntry]:
        """See the port."""
        return await self._run(lambda conn: tx.read_inbox(conn, user_id, after_seq, limit))

    async def count_after(self, user_id: str, after_seq: int) -> int:
        """See the port; counted on the (user, seq) key, in one statement."""
        return await self._run(lambda conn: tx.count_after(conn, user_id, after_seq))

    async def acked(self, user_id: str, device: str) -> int:
        """See the port."""
        return await self._run(lambda conn: tx.acked(conn, user_id, device))

    async def record_ack(self, user_id: str, device: str, seq: int) -> AckOutcome:
        """See the port; decided and written in one ``BEGIN IMMEDIATE`` transaction."""
        return await self._write(lambda conn: tx.record_ack(conn, user_id, device, seq))

    async def trim(self, before: datetime) -> int:
        """See the port."""
        return (await self.trim_stream(before, before)).deleted

    async def trim_stream(self, before: datetime, now: datetime) -> TrimReport:
        """See the port; one transaction, however much it deletes."""
        return await self._write(lambda conn: stream.trim(conn, before, now))

    async def stream_head(self, user_id: str) -> StreamHead:
        """See the port."""
        return await self._run(lambda conn: stream_reads.stream_head(conn, user_id))

    async def read_stream_after(self, user_id: str, after_pos: int, limit: int) -> list[StreamItem]:
        """See the port."""
        return await self._run(
            lambda conn: stream_reads.read_stream(conn, user_id, after_pos, limit)
        )

    async def apply_mark(self, user_id: str, mark: Mark, now: datetime) -> MarkResult:
        """See the port; one ``BEGIN IMMEDIATE`` transaction."""
        return await self._write(lambda conn: stream.apply_mark(conn, user_id, mark, now))

    async def list_items(
        self, user_id: str, after_seq: int, limit: int, chosen: ItemFilter
    ) -> list[InboxItem]:
        """See the port."""
        return await self._run(
            lambda conn: stream_reads.list_items(conn, user_id, after_seq, limit, chosen)
        )

    async def stream_acked(self, user_id: str, device: str) -> int:
        """See the port."""
        return await self._run(lambda conn: stream_reads.stream_acked(conn, user_id, device))

    async def record_stream_ack(self, user_id: str, device: str, pos: int) -> AckOutcome:
        """See the port; decided and written in one ``BEGIN IMMEDIATE`` transaction."""
        return await self._write(lambda conn: stream.record_stream_ack(conn, user_id, device, pos))
