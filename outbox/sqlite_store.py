"""The embedded SQLite adapter of the storage port: the default store.

Every operation runs on one dedicated thread per store, on one connection opened in
autocommit mode; each write is one explicit ``BEGIN IMMEDIATE`` transaction, so a writer takes
the database's single write lock before it reads anything it decides on. The file is in WAL
mode with ``synchronous=NORMAL``: readers never block the writer, and a process killed with
SIGKILL loses no committed transaction (only a power loss can drop the last commits). Several
processes (host app, worker, delivery nodes) may open one file at once; a writer waits up to the
busy timeout for the lock, then gets ``StoreUnavailable``.

Claim order is the outbox's ``position`` (see ``migrations/sqlite.py``): SQLite hands out
positions in commit order, which is what G4 needs. Times are stored as integer microseconds
since the epoch, UTC, and come back as timezone-aware UTC datetimes; naive datetimes are
refused with ``ValueError``. ``sqlite3`` errors become ``StoreError``/``StoreUnavailable`` here.
"""

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Self

import orjson

from migrations.sqlite import (
    BUSY_TIMEOUT_SECONDS,
    LATEST_SQLITE_VERSION,
    connect,
    sqlite_schema_version,
    store_error,
)
from outbox.records import (
    AckOutcome,
    InboxEntry,
    JsonObject,
    LagFigures,
    Notification,
    OutboxRecord,
    Route,
    audience_from_dict,
    audience_to_dict,
)
from outbox.sequencing import ack_outcome, batch_bodies, heads_after, plan_entries
from outbox.sqlite_checkpointer import SAFETY_NET_PAGES, WalCheckpointer
from outbox.timestamps import from_micros, to_micros
from tidings.constants import (
    ACKS,
    COUNTERS,
    DEAD,
    INBOX,
    LEASES,
    NOTIFICATIONS,
    OUTBOX,
    PENDING,
    ROUTER_LEASE,
)
from tidings.errors import ConfigurationError, LeaseLost, NotInTransaction, StoreError

_RECORD_COLUMNS: Final = (
    "id, notification_id, event, data, audience, dedup_key, origin_session, created_at, "
    "status, attempts, last_error, next_attempt_at"
)
_INSERT_RECORD: Final = (
    f"INSERT INTO {OUTBOX} ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)
_SELECT_DUE: Final = (
    f"SELECT {_RECORD_COLUMNS} FROM {OUTBOX} WHERE status = ? "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY position LIMIT ?"
)
# Taken when free, expired, or already ours; the WHERE leaves a live foreign lease untouched.
_TAKE_LEASE: Final = (
    f"INSERT INTO {LEASES} (name, owner, until) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
    f"WHERE {LEASES}.owner = excluded.owner OR {LEASES}.until <= ?"
)
_IN_JSON: Final = "IN (SELECT value FROM json_each(?))"
_READ_INBOX: Final = (
    "SELECT i.seq, i.routed_at, n.id, n.event, n.data, n.created_at, n.origin_session "
    f"FROM {INBOX} AS i JOIN {NOTIFICATIONS} AS n ON n.id = i.notification_id "
    "WHERE i.user_id = ? AND i.seq > ? ORDER BY i.seq LIMIT ?"
)


def _optional_micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def _load_object(text: str) -> JsonObject:
    value = orjson.loads(text)
    if not isinstance(value, dict):
        raise StoreError(f"stored JSON is not an object: {text[:80]!r}")
    return value


def _json_list(values: Iterable[str]) -> str:
    """One bound parameter for ``IN (SELECT value FROM json_each(?))``: no variable limit."""
    return _dumps(list(values))


def _record_row(record: OutboxRecord) -> tuple[object, ...]:
    return (
        record.id,
        record.notification_id,
        record.event,
        _dumps(record.data),
        _dumps(audience_to_dict(record.audience)),
        record.dedup_key,
        record.origin_session,
        to_micros(record.created_at),
        PENDING,
        record.attempts,
        record.last_error,
        _optional_micros(record.next_attempt_at),
    )


def _record_from_row(row: Sequence[Any]) -> OutboxRecord:
    """A record from the columns of ``_RECORD_COLUMNS``, in that order."""
    record_id, notification_id, event, data, audience = row[:5]
    dedup_key, origin_session, created_at, status = row[5:9]
    attempts, last_error, next_attempt_at = row[9:]
    # Positional: this runs once per claimed record, and keywords cost a third more.
    return OutboxRecord(
        record_id,
        notification_id,
        event,
        _load_object(data),
        audience_from_dict(_load_object(audience)),
        from_micros(created_at),
        dedup_key,
        origin_session,
        status,
        attempts,
        last_error,
        None if next_attempt_at is None else from_micros(next_attempt_at),
    )


def _notification_from_row(row: Sequence[Any]) -> Notification:
    """A body from ``id, event, data, created_at, origin_session``."""
    return Notification(
        id=row[0],
        event=row[1],
        data=_load_object(row[2]),
        created_at=from_micros(row[3]),
        origin_session=row[4],
    )


def _require_transaction(conn: sqlite3.Connection) -> None:
    """Raise ``NotInTransaction`` for a connection whose writes would commit on their own."""
    if conn.autocommit is True:
        raise NotInTransaction("emit needs a connection inside a transaction (autocommit=True)")
    legacy = conn.autocommit == sqlite3.LEGACY_TRANSACTION_CONTROL
    if legacy and conn.isolation_level is None and not conn.in_transaction:
        raise NotInTransaction(
            "emit needs a connection inside a transaction (isolation_level=None and no BEGIN)"
        )


def insert_outbox_records(conn: sqlite3.Connection, records: Sequence[OutboxRecord]) -> None:
    """Write ``records`` as pending inside the caller's transaction on the caller's ``conn``.

    Never begins, commits or rolls back: the records exist if and only if the caller commits
    (G1). A connection that cannot be in a transaction (``autocommit=True``, or legacy mode
    with ``isolation_level=None`` outside ``BEGIN``) is refused with ``NotInTransaction``
    before anything is written. A legacy connection with an isolation level opens its
    transaction implicitly at this insert. A record id already stored is skipped, so a
    repeated insert is a no-op. Raises ``ValueError`` for naive datetimes, ``TypeError`` for
    data that is not JSON, ``StoreError`` for driver errors (the caller should roll back).
    """
    _require_transaction(conn)
    rows = [_record_row(record) for record in records]
    try:
        conn.executemany(_INSERT_RECORD, rows)
    except sqlite3.Error as error:
        raise store_error(error) from error


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; on any exception ``ROLLBACK``, then re-raise."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _add(conn: sqlite3.Connection, records: Sequence[OutboxRecord]) -> None:
    rows = [_record_row(record) for record in records]
    with _write_transaction(conn):
        conn.executemany(_INSERT_RECORD, rows)


def _claim(
    conn: sqlite3.Connection, owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[OutboxRecord]:
    now_us = to_micros(now)
    until_us = now_us + round(lease_seconds * 1_000_000)
    with _write_transaction(conn):
        taken = conn.execute(_TAKE_LEASE, (ROUTER_LEASE, owner, until_us, now_us)).rowcount
        if taken != 1:
            return []
        rows = conn.execute(_SELECT_DUE, (PENDING, now_us, max(limit, 0))).fetchall()
    return [_record_from_row(row) for row in rows]


def _check_lease(conn: sqlite3.Connection, owner: str, now_us: int) -> None:
    row = conn.execute(
        f"SELECT owner, until FROM {LEASES} WHERE name = ?", (ROUTER_LEASE,)
    ).fetchone()
    if row is None or row[0] != owner or row[1] <= now_us:
        raise LeaseLost(f"the routing lease is not held by {owner!r}")


def _stored_bodies(conn: sqlite3.Connection, ids: Collection[str]) -> dict[str, Notification]:
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, event, data, created_at, origin_session "
        f"FROM {NOTIFICATIONS} WHERE id {_IN_JSON}",
        (_json_list(ids),),
    ).fetchall()
    return {row[0]: _notification_from_row(row) for row in rows}


def _holders(conn: sqlite3.Connection, ids: Collection[str]) -> set[tuple[str, str]]:
    """(user, notification id) pairs already in an inbox, for notifications already stored.

    A notification whose body is not stored yet is in no inbox (trim deletes a body only once
    no entry needs it), so only stored bodies need this lookup.
    """
    if not ids:
        return set()
    rows = conn.execute(
        f"SELECT notification_id, user_id FROM {INBOX} WHERE notification_id {_IN_JSON}",
        (_json_list(ids),),
    ).fetchall()
    return {(row[1], row[0]) for row in rows}


def _heads(conn: sqlite3.Connection, users: Collection[str]) -> dict[str, int]:
    if not users:
        return {}
    rows = conn.execute(
        f"SELECT user_id, head FROM {COUNTERS} WHERE user_id {_IN_JSON}", (_json_list(users),)
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def _write_routing(
    conn: sqlite3.Connection,
    new_bodies: Sequence[Notification],
    entries: Sequence[InboxEntry],
    heads: dict[str, int],
    routes: Sequence[Route],
    routed_at_us: int,
) -> None:
    conn.executemany(
        f"INSERT OR IGNORE INTO {NOTIFICATIONS} (id, event, data, created_at, origin_session) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (n.id, n.event, _dumps(n.data), to_micros(n.created_at), n.origin_session)
            for n in new_bodies
        ],
    )
    # A plain INSERT: a duplicate (user, seq) or (notification, user) here is a bug, and the
    # failure rolls the whole batch back rather than leaving a gap.
    conn.executemany(
        f"INSERT INTO {INBOX} (user_id, seq, notification_id, routed_at) VALUES (?, ?, ?, ?)",
        [(e.user_id, e.seq, e.notification.id, routed_at_us) for e in entries],
    )
    conn.executemany(
        f"INSERT INTO {COUNTERS} (user_id, head) VALUES (?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET head = excluded.head",
        list(heads.items()),
    )
    conn.executemany(f"DELETE FROM {OUTBOX} WHERE id = ?", [(r.record.id,) for r in routes])


def _append(
    conn: sqlite3.Connection, owner: str, now: datetime, routes: Sequence[Route]
) -> list[InboxEntry]:
    now_us = to_micros(now)
    with _write_transaction(conn):
        _check_lease(conn, owner, now_us)
        stored = _stored_bodies(conn, {route.record.notification_id for route in routes})
        bodies, new_bodies = batch_bodies(routes, stored)
        held = _holders(conn, stored.keys())
        heads = _heads(conn, {user for route in routes for user in route.recipients})
        entries = plan_entries(routes, bodies, held, heads, now)
        _write_routing(conn, new_bodies, entries, heads_after(entries), routes, now_us)
    return entries


def _record_failure(
    conn: sqlite3.Connection, record_id: str, error: str, retry_at: datetime | None
) -> None:
    status = DEAD if retry_at is None else PENDING
    with _write_transaction(conn):
        conn.execute(
            f"UPDATE {OUTBOX} SET attempts = attempts + 1, last_error = ?, status = ?, "
            "next_attempt_at = ? WHERE id = ?",
            (error, status, _optional_micros(retry_at), record_id),
        )


def _release(conn: sqlite3.Connection, owner: str) -> None:
    with _write_transaction(conn):
        conn.execute(f"DELETE FROM {LEASES} WHERE name = ? AND owner = ?", (ROUTER_LEASE, owner))


def _list_dead(conn: sqlite3.Connection, limit: int) -> list[OutboxRecord]:
    rows = conn.execute(
        f"SELECT {_RECORD_COLUMNS} FROM {OUTBOX} WHERE status = ? ORDER BY position LIMIT ?",
        (DEAD, max(limit, 0)),
    ).fetchall()
    return [_record_from_row(row) for row in rows]


def _requeue(conn: sqlite3.Connection, record_ids: Sequence[str] | None) -> int:
    update = (
        f"UPDATE {OUTBOX} SET status = ?, attempts = 0, next_attempt_at = NULL WHERE status = ?"
    )
    with _write_transaction(conn):
        if record_ids is None:
            cursor = conn.execute(update, (PENDING, DEAD))
        else:
            cursor = conn.execute(
                f"{update} AND id {_IN_JSON}", (PENDING, DEAD, _json_list(record_ids))
            )
    return cursor.rowcount


def _lag(conn: sqlite3.Connection) -> LagFigures:
    pending, dead, oldest = conn.execute(
        f"SELECT (SELECT COUNT(*) FROM {OUTBOX} WHERE status = ?), "
        f"(SELECT COUNT(*) FROM {OUTBOX} WHERE status = ?), "
        f"(SELECT created_at FROM {OUTBOX} WHERE status = ? ORDER BY position LIMIT 1)",
        (PENDING, DEAD, PENDING),
    ).fetchone()
    return LagFigures(pending, dead, None if oldest is None else from_micros(oldest))


def _scalar(conn: sqlite3.Connection, query: str, params: tuple[object, ...]) -> int:
    """The integer in the first column of the first row, 0 when there is no row."""
    row = conn.execute(query, params).fetchone()
    return 0 if row is None else int(row[0])


def _head(conn: sqlite3.Connection, user_id: str) -> int:
    return _scalar(conn, f"SELECT head FROM {COUNTERS} WHERE user_id = ?", (user_id,))


def _acked(conn: sqlite3.Connection, user_id: str, device: str) -> int:
    query = f"SELECT seq FROM {ACKS} WHERE user_id = ? AND device = ?"
    return _scalar(conn, query, (user_id, device))


def _read_inbox(
    conn: sqlite3.Connection, user_id: str, after_seq: int, limit: int
) -> list[InboxEntry]:
    rows = conn.execute(_READ_INBOX, (user_id, after_seq, max(limit, 0))).fetchall()
    return [
        InboxEntry(user_id, row[0], _notification_from_row(row[2:]), from_micros(row[1]))
        for row in rows
    ]


def _record_ack(conn: sqlite3.Connection, user_id: str, device: str, seq: int) -> AckOutcome:
    # Decided under the write lock, so two racing acks are serialized and never move back.
    with _write_transaction(conn):
        outcome = ack_outcome(_acked(conn, user_id, device), _head(conn, user_id), seq)
        if outcome is AckOutcome.STORED:
            conn.execute(
                f"INSERT INTO {ACKS} (user_id, device, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, device) DO UPDATE SET seq = excluded.seq",
                (user_id, device, seq),
            )
    return outcome


def _trim(conn: sqlite3.Connection, before: datetime) -> int:
    before_us = to_micros(before)
    with _write_transaction(conn):
        deleted = conn.execute(f"DELETE FROM {INBOX} WHERE routed_at < ?", (before_us,)).rowcount
        conn.execute(
            f"DELETE FROM {NOTIFICATIONS} WHERE created_at < ? AND NOT EXISTS "
            f"(SELECT 1 FROM {INBOX} WHERE notification_id = {NOTIFICATIONS}.id)",
            (before_us,),
        )
    return deleted


def _open_checked(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Connect to an existing, migrated store; ``ConfigurationError`` when it is not."""
    advice = "run `tidings migrate` first"
    if not path.exists():
        raise ConfigurationError(f"no tidings store at {path}: {advice}")
    try:
        conn = connect(path, create=False, busy_timeout=busy_timeout)
    except sqlite3.Error as error:
        raise store_error(error) from error
    try:
        version = sqlite_schema_version(conn)
    except sqlite3.Error as error:
        conn.close()
        raise store_error(error) from error
    if version < LATEST_SQLITE_VERSION:
        conn.close()
        raise ConfigurationError(
            f"the tidings store at {path} is at schema version {version}, "
            f"this code needs {LATEST_SQLITE_VERSION}: {advice}"
        )
    conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_NET_PAGES}")  # see the checkpointer
    return conn


def _translated[T](operation: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    try:
        return operation(conn)
    except sqlite3.Error as error:
        raise store_error(error) from error


class SqliteStore:
    """The storage port on one SQLite file (see the module docstring for the guarantees).

    Build it with :meth:`open`; calls run one at a time, in call order, on the store's thread.
    Its write-ahead log is checkpointed by a :class:`WalCheckpointer` of its own, off that
    thread.
    """

    def __init__(
        self, conn: sqlite3.Connection, executor: ThreadPoolExecutor, checkpointer: WalCheckpointer
    ) -> None:
        """Wrap ``conn``, which must have been opened on ``executor``'s only thread.

        Must be called inside a running event loop: it starts ``checkpointer``'s task.
        """
        self._conn = conn
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
        return cls(conn, executor, WalCheckpointer(path))

    async def _run[T](self, operation: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("the sqlite store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _translated, operation, self._conn)

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

    async def add_records(self, records: Sequence[OutboxRecord]) -> None:
        """Write ``records`` as pending in one transaction; an id already stored is skipped."""
        await self._write(lambda conn: _add(conn, records))

    async def claim_batch(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[OutboxRecord]:
        """See the port. Lease and read happen in one write transaction; order is position."""
        return await self._write(lambda conn: _claim(conn, owner, now, lease_seconds, limit))

    async def append_to_inbox(
        self, owner: str, now: datetime, routes: Sequence[Route]
    ) -> list[InboxEntry]:
        """See the port. The entries come back in route order, hence seq order per user."""
        return await self._write(lambda conn: _append(conn, owner, now, routes))

    async def record_failure(self, record_id: str, error: str, retry_at: datetime | None) -> None:
        """See the port."""
        await self._write(lambda conn: _record_failure(conn, record_id, error, retry_at))

    async def release_lease(self, owner: str) -> None:
        """See the port."""
        await self._write(lambda conn: _release(conn, owner))

    async def list_dead(self, limit: int) -> list[OutboxRecord]:
        """Dead records in position (commit) order."""
        return await self._run(lambda conn: _list_dead(conn, limit))

    async def requeue_dead(self, record_ids: Sequence[str] | None, now: datetime) -> int:
        """See the port. Re-queued records are due at once (``next_attempt_at`` cleared), so
        ``now`` is not needed here; ``last_error`` is kept for the record's history."""
        return await self._write(lambda conn: _requeue(conn, record_ids))

    async def lag(self) -> LagFigures:
        """See the port; read in one statement, so the figures are consistent."""
        return await self._run(_lag)

    async def head(self, user_id: str) -> int:
        """See the port."""
        return await self._run(lambda conn: _head(conn, user_id))

    async def read_inbox_after(self, user_id: str, after_seq: int, limit: int) -> list[InboxEntry]:
        """See the port."""
        return await self._run(lambda conn: _read_inbox(conn, user_id, after_seq, limit))

    async def acked(self, user_id: str, device: str) -> int:
        """See the port."""
        return await self._run(lambda conn: _acked(conn, user_id, device))

    async def record_ack(self, user_id: str, device: str, seq: int) -> AckOutcome:
        """See the port; decided and written in one ``BEGIN IMMEDIATE`` transaction."""
        return await self._write(lambda conn: _record_ack(conn, user_id, device, seq))

    async def trim(self, before: datetime) -> int:
        """See the port."""
        return await self._write(lambda conn: _trim(conn, before))
