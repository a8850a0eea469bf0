"""The embedded store's operations: each one synchronous transaction on one connection.

Writes run in an explicit ``BEGIN IMMEDIATE`` transaction, so a writer holds the database's
single write lock before it reads anything it decides on. Each raises ``sqlite3.Error`` as
the driver does (``SqliteStore`` translates it), ``LeaseLost`` when routing without the lease,
and ``ValueError`` for naive datetimes. The write that joins the host application's own
transaction is in :mod:`outbox.stores.sqlite.host`; failures, dead records and the lag are in
:mod:`outbox.stores.sqlite.dead_records`.
"""

import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Final

from foundation.constants import (
    ACKS,
    COUNTERS,
    INBOX,
    LEASES,
    NOTIFICATIONS,
    NOTIFY,
    OUTBOX,
    OUTBOX_DEAD,
    PENDING,
    ROUTER_LEASE,
)
from foundation.errors import LeaseLost
from outbox.records import (
    AckOutcome,
    InboxEntry,
    Notification,
    OutboxRecord,
    Route,
    route_of,
)
from outbox.sequencing import ack_outcome, batch_bodies, heads_after, plan_entries
from outbox.state_rules import StreamPlan, plan_plain
from outbox.stores.sqlite import stream_routing as stream
from outbox.stores.sqlite.rows import (
    RECORD_COLUMNS,
    dumps,
    json_list,
    notification_from_row,
    record_from_row,
    record_row,
)
from outbox.stream import Appended
from outbox.timestamps import from_micros, to_micros, to_micros_memo

# One more than the highest position in the outbox and among the dead, read under the write
# lock the insert holds: commit order, and a dead record's position stays free for its
# re-queue (see ``migrations/sqlite/v4_outbox_holds_pending_only.py``). Reads, writes nothing.
NEXT_POSITION: Final = (
    f"max(coalesce((SELECT max(position) FROM {OUTBOX}), 0), "
    f"coalesce((SELECT max(position) FROM {OUTBOX_DEAD}), 0)) + 1"
)
_PARAMETERS: Final = ", ".join("?" * (RECORD_COLUMNS.count(",") + 1))
# A record whose id is pending is skipped here, one whose id is dead by the schema's trigger.
INSERT_RECORD: Final = (
    f"INSERT INTO {OUTBOX} (position, {RECORD_COLUMNS}) "
    f"VALUES (({NEXT_POSITION}), {_PARAMETERS}) ON CONFLICT (id) DO NOTHING"
)
_SELECT_DUE: Final = (
    f"SELECT {RECORD_COLUMNS} FROM {OUTBOX} WHERE status = ? "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY position LIMIT ?"
)
# Taken when free, expired, or already ours; the WHERE leaves a live foreign lease untouched.
_TAKE_LEASE: Final = (
    f"INSERT INTO {LEASES} (name, owner, until) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
    f"WHERE {LEASES}.owner = excluded.owner OR {LEASES}.until <= ?"
)
_IN_JSON: Final = "IN (SELECT value FROM json_each(?))"
_DELETE_ROUTED: Final = f"DELETE FROM {OUTBOX} WHERE id {_IN_JSON}"
_READ_INBOX: Final = (
    "SELECT i.seq, i.routed_at, n.id, n.event, n.data, n.created_at, n.origin_session "
    f"FROM {INBOX} AS i JOIN {NOTIFICATIONS} AS n ON n.id = i.notification_id "
    "WHERE i.user_id = ? AND i.seq > ? ORDER BY i.seq LIMIT ?"
)


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


write_transaction: Final = _write_transaction  # for the other modules of this adapter


def add(conn: sqlite3.Connection, records: Sequence[OutboxRecord]) -> None:
    """``OutboxStore.add_records`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    rows = [record_row(record) for record in records]
    with _write_transaction(conn):
        conn.executemany(INSERT_RECORD, rows)


def claim(
    conn: sqlite3.Connection, owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[OutboxRecord]:
    """``OutboxStore.claim_batch`` (see ``outbox/port.py``) as one transaction on ``conn``.

    While more than half of ``owner``'s lease is left, the claim only reads (one snapshot):
    it takes no write lock, so a worker that keeps routing neither waits for the host's
    writers nor makes them wait, and it renews the lease once per half-lease. Otherwise it
    takes or renews the lease in a write transaction. Either way ``append`` checks the lease
    in its own transaction: a claim that read under a lease since taken over appends nothing.
    """
    now_us = to_micros(now)
    lease_us = round(lease_seconds * 1_000_000)
    conn.execute("BEGIN")
    try:
        until = _lease_until(conn, owner)
        fresh = until is not None and until - now_us > lease_us // 2
        rows = (
            conn.execute(_SELECT_DUE, (PENDING, now_us, max(limit, 0))).fetchall() if fresh else []
        )
    finally:
        conn.execute("COMMIT")
    if not fresh:
        with _write_transaction(conn):
            taken = conn.execute(_TAKE_LEASE, (ROUTER_LEASE, owner, now_us + lease_us, now_us))
            if taken.rowcount != 1:
                return []
            rows = conn.execute(_SELECT_DUE, (PENDING, now_us, max(limit, 0))).fetchall()
    return [record_from_row(row) for row in rows]


def _lease_until(conn: sqlite3.Connection, owner: str) -> int | None:
    """When ``owner``'s routing lease ends, None when another owner (or nobody) holds it."""
    row = conn.execute(
        f"SELECT until FROM {LEASES} WHERE name = ? AND owner = ?", (ROUTER_LEASE, owner)
    ).fetchone()
    return None if row is None else int(row[0])


def _check_lease(conn: sqlite3.Connection, owner: str, now_us: int) -> None:
    row = conn.execute(
        f"SELECT owner, until FROM {LEASES} WHERE name = ?", (ROUTER_LEASE,)
    ).fetchone()
    if row is None or row[0] != owner or row[1] <= now_us:
        raise LeaseLost(f"the routing lease is not held by {owner!r}")


check_lease: Final = _check_lease  # for ``dead_records``


def _stored_bodies(conn: sqlite3.Connection, ids: Collection[str]) -> dict[str, Notification]:
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, event, data, created_at, origin_session "
        f"FROM {NOTIFICATIONS} WHERE id {_IN_JSON}",
        (json_list(ids),),
    ).fetchall()
    return {row[0]: notification_from_row(row) for row in rows}


def _holders(conn: sqlite3.Connection, ids: Collection[str]) -> set[tuple[str, str]]:
    """(user, notification id) pairs already in an inbox, for notifications already stored.

    A notification whose body is not stored yet is in no inbox (trim deletes a body only once
    no entry needs it), so only stored bodies need this lookup.
    """
    if not ids:
        return set()
    rows = conn.execute(
        f"SELECT notification_id, user_id FROM {INBOX} WHERE notification_id {_IN_JSON}",
        (json_list(ids),),
    ).fetchall()
    return {(row[1], row[0]) for row in rows}


def _write_routing(
    conn: sqlite3.Connection,
    new_bodies: Sequence[Notification],
    entries: Sequence[InboxEntry],
    heads: dict[str, int],
    routes: Sequence[Route],
    routed_at_us: int,
    plan: StreamPlan,
) -> None:
    conn.executemany(
        f"INSERT OR IGNORE INTO {NOTIFICATIONS} (id, event, data, created_at, origin_session) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (n.id, n.event, dumps(n.data), to_micros_memo(n.created_at), n.origin_session)
            for n in new_bodies
        ],
    )
    stream.insert_entries(conn, entries, plan, routed_at_us)
    stream.write_plan(conn, plan, heads)  # the heads with the stream counters
    conn.execute(_DELETE_ROUTED, (json_list([route.record.id for route in routes]),))


def append(
    conn: sqlite3.Connection, owner: str, now: datetime, routes: Sequence[Route]
) -> Appended:
    """``OutboxStore.append_routes`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    now_us = to_micros(now)
    notifying = [route for route in routes if route.record.kind == NOTIFY]
    with _write_transaction(conn):
        _check_lease(conn, owner, now_us)
        stored = _stored_bodies(conn, {route.record.notification_id for route in notifying})
        bodies, new_bodies = batch_bodies(notifying, stored)
        held = _holders(conn, stored.keys())
        recipients = {user for route in notifying for user in route.recipients}
        if len(notifying) == len(routes) and all(r.record.collapse_key is None for r in routes):
            # Notifications that retract nothing, the usual batch: planned in one pass.
            counters = stream.read_counter_rows(conn, recipients)
            entries, plan, new_heads = plan_plain(routes, bodies, held, counters, now)
        else:
            heads, users = stream.read_counters(conn, recipients)
            entries = plan_entries(notifying, bodies, held, heads, now)
            plan = stream.plan_batch(conn, routes, entries, now, users)
            new_heads = heads_after(entries)
        _write_routing(conn, new_bodies, entries, new_heads, routes, now_us, plan)
    return Appended(entries, plan.stream())


def claim_and_append(
    conn: sqlite3.Connection,
    owner: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    resolve: Callable[[OutboxRecord], tuple[str, ...] | None],
) -> tuple[list[OutboxRecord], list[Route], Appended]:
    """:func:`claim`, then :func:`append` of the claimed records that ``resolve`` gives
    recipients for, in claim order up to the first it gives ``None`` for (left pending).

    Two transactions, as the two calls make them; returns the records claimed, the routes
    appended and what was appended.
    """
    records = claim(conn, owner, now, lease_seconds, limit)
    routes = []
    for record in records:
        recipients = resolve(record)
        if recipients is None:
            break
        routes.append(route_of(record, recipients))
    appended = append(conn, owner, now, routes) if routes else Appended([], [])
    return records, routes, appended


def release(conn: sqlite3.Connection, owner: str) -> None:
    """``OutboxStore.release_lease`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    with _write_transaction(conn):
        conn.execute(f"DELETE FROM {LEASES} WHERE name = ? AND owner = ?", (ROUTER_LEASE, owner))


def _scalar(conn: sqlite3.Connection, query: str, params: tuple[object, ...]) -> int:
    """The integer in the first column of the first row, 0 when there is no row."""
    row = conn.execute(query, params).fetchone()
    return 0 if row is None else int(row[0])


def head(conn: sqlite3.Connection, user_id: str) -> int:
    """``OutboxStore.head`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    return _scalar(conn, f"SELECT head FROM {COUNTERS} WHERE user_id = ?", (user_id,))


def count_after(conn: sqlite3.Connection, user_id: str, after_seq: int) -> int:
    """``OutboxStore.count_after`` (see ``outbox/port.py``), read on ``conn``."""
    query = f"SELECT COUNT(*) FROM {INBOX} WHERE user_id = ? AND seq > ?"
    return _scalar(conn, query, (user_id, after_seq))


def acked(conn: sqlite3.Connection, user_id: str, device: str) -> int:
    """``OutboxStore.acked`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    query = f"SELECT seq FROM {ACKS} WHERE user_id = ? AND device = ?"
    return _scalar(conn, query, (user_id, device))


def read_inbox(
    conn: sqlite3.Connection, user_id: str, after_seq: int, limit: int
) -> list[InboxEntry]:
    """``OutboxStore.read_inbox_after`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    rows = conn.execute(_READ_INBOX, (user_id, after_seq, max(limit, 0))).fetchall()
    return [
        InboxEntry(user_id, row[0], notification_from_row(row[2:]), from_micros(row[1]))
        for row in rows
    ]


def record_ack(conn: sqlite3.Connection, user_id: str, device: str, seq: int) -> AckOutcome:
    """``OutboxStore.record_ack`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    # Decided under the write lock, so two racing acks are serialized and never move back.
    with _write_transaction(conn):
        outcome = ack_outcome(acked(conn, user_id, device), head(conn, user_id), seq)
        if outcome is AckOutcome.STORED:
            conn.execute(
                f"INSERT INTO {ACKS} (user_id, device, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, device) DO UPDATE SET seq = excluded.seq",
                (user_id, device, seq),
            )
    return outcome
