"""The embedded store's reads of inbox state (protocol v2), and the stream acks.

Reads run on the store's one connection outside any explicit transaction: each is one
statement (or two for the stream, merged by ``pos``), so it sees one committed state.
"""

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

import orjson

from foundation.constants import CHANGES, COUNTERS, INBOX, NOTIFICATIONS, STREAM_ACKS
from outbox.records import InboxEntry
from outbox.stores.sqlite.rows import dumps, notification_from_row
from outbox.stores.sqlite.stream_routing import IN_JSON
from outbox.stream import (
    ChangeOp,
    Counts,
    InboxItem,
    ItemFilter,
    ItemState,
    StreamChange,
    StreamHead,
    StreamItem,
    StreamNotification,
)
from outbox.timestamps import from_micros

_BODY: Final = "n.id, n.event, n.data, n.created_at, n.origin_session"
_READ_NOTIFICATIONS: Final = (
    f"SELECT i.pos, i.seq, i.routed_at, i.replaces, i.unread_after, i.unarchived_after, {_BODY} "
    f"FROM {INBOX} AS i JOIN {NOTIFICATIONS} AS n ON n.id = i.notification_id "
    "WHERE i.user_id = ? AND i.pos > ? ORDER BY i.pos LIMIT ?"
)
_READ_CHANGES: Final = (
    "SELECT pos, op, seqs, upto, at, unread_after, unarchived_after "
    f"FROM {CHANGES} WHERE user_id = ? AND pos > ? ORDER BY pos LIMIT ?"
)
_LIST_ITEMS: Final = (
    "SELECT i.seq, i.routed_at, i.pos, i.is_read, i.is_archived, i.is_retracted, i.replaces, "
    f"{_BODY} FROM {INBOX} AS i JOIN {NOTIFICATIONS} AS n ON n.id = i.notification_id "
    "WHERE i.user_id = ? AND i.seq > ?"
)


def _change(user_id: str, row: Sequence[Any]) -> StreamChange:
    pos, op, seqs, upto, at, unread, unarchived = row
    listed = tuple(orjson.loads(seqs))
    return StreamChange(
        user_id, pos, ChangeOp(op), listed, upto, Counts(unread, unarchived), from_micros(at)
    )


def _notification(user_id: str, row: Sequence[Any]) -> StreamNotification:
    pos, seq, routed_at, replaces, unread, unarchived = row[:6]
    entry = InboxEntry(user_id, seq, notification_from_row(row[6:]), from_micros(routed_at))
    return StreamNotification(entry, pos, Counts(unread, unarchived), replaces)


def stream_head(conn: sqlite3.Connection, user_id: str) -> StreamHead:
    """``OutboxStore.stream_head`` (see ``outbox/port.py``): one row, so one state."""
    row = conn.execute(
        f"SELECT pos, head, unread, unarchived FROM {COUNTERS} WHERE user_id = ?", (user_id,)
    ).fetchone()
    if row is None:
        return StreamHead()
    return StreamHead(row[0], row[1], Counts(row[2], row[3]))


def read_stream(
    conn: sqlite3.Connection, user_id: str, after_pos: int, limit: int
) -> list[StreamItem]:
    """``OutboxStore.read_stream_after`` (see ``outbox/port.py``)."""
    limit = max(limit, 0)
    params = (user_id, after_pos, limit)
    notifications = [_notification(user_id, r) for r in conn.execute(_READ_NOTIFICATIONS, params)]
    changes = [_change(user_id, r) for r in conn.execute(_READ_CHANGES, params)]
    merged: list[StreamItem] = [*notifications, *changes]
    merged.sort(key=_pos)  # two sorted runs: one merge pass
    return merged[:limit]


def _pos(item: StreamItem) -> int:
    return item.pos


def _filter_clause(chosen: ItemFilter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (
        ("i.is_read", chosen.read),
        ("i.is_archived", chosen.archived),
        ("i.is_retracted", chosen.retracted),
    ):
        if value is not None:
            clauses.append(f" AND {column} = ?")
            params.append(int(value))
    if chosen.events:
        clauses.append(f" AND n.event {IN_JSON}")
        params.append(dumps(list(chosen.events)))
    return "".join(clauses), params


def list_items(
    conn: sqlite3.Connection, user_id: str, after_seq: int, limit: int, chosen: ItemFilter
) -> list[InboxItem]:
    """``OutboxStore.list_items`` (see ``outbox/port.py``)."""
    where, params = _filter_clause(chosen)
    query = f"{_LIST_ITEMS}{where} ORDER BY i.seq LIMIT ?"
    rows = conn.execute(query, (user_id, after_seq, *params, max(limit, 0))).fetchall()
    return [
        InboxItem(
            InboxEntry(user_id, row[0], notification_from_row(row[7:]), from_micros(row[1])),
            row[2],
            ItemState(bool(row[3]), bool(row[4]), bool(row[5])),
            row[6],
        )
        for row in rows
    ]


def stream_acked(conn: sqlite3.Connection, user_id: str, device: str) -> int:
    """``OutboxStore.stream_acked`` (see ``outbox/port.py``)."""
    row = conn.execute(
        f"SELECT pos FROM {STREAM_ACKS} WHERE user_id = ? AND device = ?", (user_id, device)
    ).fetchone()
    return 0 if row is None else int(row[0])
