"""Inbox state in the embedded store's routing transaction, and the rows it shares.

The routing transaction (:func:`outbox.stores.sqlite.transactions.append`) calls
:func:`plan_batch` and :func:`write_plan` inside itself, so a notification's ``pos``, the
retractions it causes and the counts change in the transaction that appends it. The rules are
:mod:`outbox.state_rules`'; this module reads what they need and writes what they decide.
"""

import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

from foundation.constants import CHANGES, COUNTERS, INBOX, NOTIFY
from outbox.records import Everyone, InboxEntry, Route
from outbox.state_rules import (
    NO_STREAM,
    Holding,
    StreamPlan,
    UserStream,
    plan_stream,
    user_stream,
)
from outbox.stores.sqlite.rows import dumps, json_list
from outbox.stream import StreamChange
from outbox.timestamps import to_micros

IN_JSON: Final = "IN (SELECT value FROM json_each(?))"

INSERT_ENTRY: Final = (
    f"INSERT INTO {INBOX} (user_id, seq, notification_id, routed_at, pos, collapse_key, "
    "replaces, unread_after, unarchived_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CHANGE: Final = (
    f"INSERT INTO {CHANGES} (user_id, pos, op, seqs, upto, at, unread_after, unarchived_after) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SET_STREAM: Final = (
    f"INSERT INTO {COUNTERS} (user_id, head, pos, unread, unarchived) VALUES (?, 0, ?, ?, ?) "
    "ON CONFLICT (user_id) DO UPDATE SET pos = excluded.pos, unread = excluded.unread, "
    "unarchived = excluded.unarchived"
)
_SET_COUNTERS: Final = (
    f"INSERT INTO {COUNTERS} (user_id, head, pos, unread, unarchived) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (user_id) DO UPDATE SET head = excluded.head, pos = excluded.pos, "
    "unread = excluded.unread, unarchived = excluded.unarchived"
)
_HOLDING: Final = f"SELECT user_id, seq, is_read, is_archived FROM {INBOX} WHERE collapse_key = ?"


def change_row(change: StreamChange) -> tuple[object, ...]:
    """A change as the columns of ``tidings_changes``, in table order."""
    return (
        change.user_id,
        change.pos,
        change.op.value,
        dumps(list(change.seqs)),
        change.upto,
        to_micros(change.at),
        change.counts.unread,
        change.counts.unarchived,
    )


def read_users(conn: sqlite3.Connection, users: Collection[str]) -> dict[str, UserStream]:
    if not users:
        return {}
    rows = conn.execute(
        f"SELECT user_id, pos, unread, unarchived FROM {COUNTERS} WHERE user_id {IN_JSON}",
        (json_list(users),),
    ).fetchall()
    return {row[0]: user_stream(row[1], row[2], row[3]) for row in rows}


def read_counter_rows(
    conn: sqlite3.Connection, users: Collection[str]
) -> dict[str, tuple[int, int, int, int]]:
    """The stored ``(head, pos, unread, unarchived)`` of those of ``users`` that have them."""
    if not users:
        return {}
    rows = conn.execute(
        f"SELECT user_id, head, pos, unread, unarchived FROM {COUNTERS} WHERE user_id {IN_JSON}",
        (json_list(users),),
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def read_counters(
    conn: sqlite3.Connection, users: Collection[str]
) -> tuple[dict[str, int], dict[str, UserStream]]:
    """The v1 heads (of the users that have one) and the stream counters (of every user in
    ``users``, new ones at zero) of ``users``, in one query."""
    rows = read_counter_rows(conn, users)
    streams = dict.fromkeys(users, NO_STREAM)
    for user, (_, pos, unread, unarchived) in rows.items():
        streams[user] = user_stream(pos, unread, unarchived)
    return {user: row[0] for user, row in rows.items()}, streams


def _holdings(
    conn: sqlite3.Connection, wanted: Mapping[str, set[str] | None]
) -> dict[tuple[str, str], Holding]:
    """The notifications holding each key, of the users given for it (``None``: anyone's)."""
    found: dict[tuple[str, str], Holding] = {}
    for key, users in wanted.items():
        if users is None:
            rows = conn.execute(f"{_HOLDING} AND is_retracted = 0", (key,)).fetchall()
        else:
            query = f"{_HOLDING} AND is_retracted = 0 AND user_id {IN_JSON}"
            rows = conn.execute(query, (key, json_list(users))).fetchall()
        for user, seq, read, archived in rows:
            found[(user, key)] = Holding(user, seq, bool(read), bool(archived))
    return found


def _keys_wanted(routes: Sequence[Route]) -> dict[str, set[str] | None]:
    """Which users' holdings of each collapse key the batch needs (``None``: everyone's)."""
    wanted: dict[str, set[str] | None] = {}
    for route in routes:
        key = route.record.collapse_key
        if key is None:
            continue
        if route.record.kind != NOTIFY and isinstance(route.record.audience, Everyone):
            wanted[key] = None
        elif (users := wanted.setdefault(key, set())) is not None:
            users.update(route.recipients)
    return wanted


def plan_batch(
    conn: sqlite3.Connection,
    routes: Sequence[Route],
    entries: Sequence[InboxEntry],
    now: datetime,
    known: Mapping[str, UserStream] | None = None,
) -> StreamPlan:
    """Read what :func:`outbox.state_rules.plan_stream` needs for the batch, and plan it.

    ``known`` holds counters already read in this transaction (see :func:`read_counters`):
    only the users not in it are read.
    """
    holdings = _holdings(conn, _keys_wanted(routes))
    counters = dict(known or {})
    users = {entry.user_id for entry in entries} | {user for user, _ in holdings}
    counters.update(read_users(conn, users.difference(counters)))
    return plan_stream(routes, entries, counters, holdings, now)


# The entries of a batch in which no notification holds a collapse key (nor, then, replaces
# one): two bound values fewer per entry, the same rows.
_INSERT_PLAIN_ENTRY: Final = (
    f"INSERT INTO {INBOX} (user_id, seq, notification_id, routed_at, pos, unread_after, "
    "unarchived_after) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def insert_entries(
    conn: sqlite3.Connection, entries: Sequence[InboxEntry], plan: StreamPlan, routed_at_us: int
) -> None:
    """Insert the batch's entries with their stream fields (a plain ``INSERT``: a duplicate
    (user, seq) or (notification, user) is a bug, and rolls the whole batch back)."""
    if plan.collapse_keys.count(None) != len(plan.collapse_keys):
        conn.executemany(INSERT_ENTRY, inbox_rows(entries, plan, routed_at_us))
        return
    rows = []
    for entry, placed in zip(entries, plan.notifications, strict=True):
        counts = placed.counts
        rows.append(
            (
                entry.user_id,
                entry.seq,
                entry.notification.id,
                routed_at_us,
                placed.pos,
                counts.unread,
                counts.unarchived,
            )
        )
    conn.executemany(_INSERT_PLAIN_ENTRY, rows)


def inbox_rows(
    entries: Sequence[InboxEntry], plan: StreamPlan, routed_at_us: int
) -> list[tuple[object, ...]]:
    """The rows of ``INSERT_ENTRY`` for the batch's entries, with their stream fields."""
    return [
        (
            entry.user_id,
            entry.seq,
            entry.notification.id,
            routed_at_us,
            placed.pos,
            key,
            placed.replaces,
            placed.counts.unread,
            placed.counts.unarchived,
        )
        for entry, placed, key in zip(entries, plan.notifications, plan.collapse_keys, strict=True)
    ]


def write_changes(conn: sqlite3.Connection, changes: Iterable[StreamChange]) -> None:
    conn.executemany(_INSERT_CHANGE, [change_row(change) for change in changes])


def write_users(conn: sqlite3.Connection, users: Mapping[str, UserStream]) -> None:
    conn.executemany(
        _SET_STREAM, [(u, s.pos, s.unread, s.unarchived) for u, s in sorted(users.items())]
    )


def write_plan(conn: sqlite3.Connection, plan: StreamPlan, heads: Mapping[str, int]) -> None:
    """Write the retractions, changes and counters of ``plan`` (after the entries), with the
    new v1 ``heads`` of the users appended to: one statement per user."""
    if plan.retracted:
        conn.executemany(
            f"UPDATE {INBOX} SET is_retracted = 1 WHERE user_id = ? AND seq = ?",
            [(held.user_id, held.seq) for held in plan.retracted],
        )
    if plan.changes:
        write_changes(conn, plan.changes)
    conn.executemany(
        _SET_COUNTERS,
        [(u, heads[u], s.pos, s.unread, s.unarchived) for u, s in plan.users.items() if u in heads],
    )
    write_users(conn, {u: s for u, s in plan.users.items() if u not in heads})
