"""The embedded store's inbox-state transactions (protocol v2): marks, trims, stream acks.

Each is one ``BEGIN IMMEDIATE`` transaction on the store's connection, so it holds the write
lock before it reads the head it decides on: two writers never hand out one ``pos``, and the
counts change in the transaction that changes the state (:mod:`outbox.state_rules`).
"""

import sqlite3
from collections import defaultdict
from datetime import datetime
from typing import Final

from foundation.constants import CHANGES, INBOX, NOTIFICATIONS, STREAM_ACKS
from outbox.records import AckOutcome
from outbox.sequencing import ack_outcome
from outbox.state_rules import OP_SETS, UserStream, mark_change, mark_refused, plan_trim
from outbox.stores.sqlite.rows import dumps
from outbox.stores.sqlite.stream_reads import stream_acked, stream_head
from outbox.stores.sqlite.stream_routing import IN_JSON, read_users, write_changes, write_users
from outbox.stores.sqlite.transactions import write_transaction
from outbox.stream import ItemState, Mark, MarkOutcome, MarkResult, StreamHead, TrimReport
from outbox.timestamps import to_micros

# Columns of the state a mark sets, by ItemState attribute.
_STATE_COLUMNS: Final = {"read": "is_read", "archived": "is_archived"}


def _set_state(conn: sqlite3.Connection, user_id: str, mark: Mark) -> list[int]:
    """Set the mark's state where it differs; return the seqs changed (``upto``: one 0 per
    notification changed, their seqs are not needed)."""
    attribute, value = OP_SETS[mark.op]
    column = _STATE_COLUMNS[attribute]
    update = (
        f"UPDATE {INBOX} SET {column} = ? WHERE user_id = ? AND {column} != ? "
        "AND is_retracted = 0 AND seq "
    )
    if mark.upto is not None:
        count = conn.execute(f"{update} <= ?", (value, user_id, value, mark.upto)).rowcount
        return [0] * count
    rows = conn.execute(
        f"{update} {IN_JSON} RETURNING seq", (value, user_id, value, dumps(list(mark.seqs)))
    ).fetchall()
    return [row[0] for row in rows]


def apply_mark(conn: sqlite3.Connection, user_id: str, mark: Mark, now: datetime) -> MarkResult:
    """``OutboxStore.apply_mark`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    with write_transaction(conn):
        head = stream_head(conn, user_id)
        refused = mark_refused(mark, head.seq)
        if refused is not None:
            return MarkResult(refused, head)
        changed = _set_state(conn, user_id, mark)
        if not changed:
            return MarkResult(MarkOutcome.UNCHANGED, head)
        user = UserStream(head.pos, head.counts.unread, head.counts.unarchived)
        change, after = mark_change(user_id, mark, changed, user, now)
        write_changes(conn, [change])
        write_users(conn, {user_id: after})
    return MarkResult(MarkOutcome.APPLIED, StreamHead(after.pos, head.seq, after.counts), change)


def trim(conn: sqlite3.Connection, before: datetime, now: datetime) -> TrimReport:
    """``OutboxStore.trim_stream`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    before_us = to_micros(before)
    with write_transaction(conn):
        rows = conn.execute(
            f"DELETE FROM {INBOX} WHERE routed_at < ? "
            "RETURNING user_id, seq, is_read, is_archived, is_retracted",
            (before_us,),
        ).fetchall()
        conn.execute(f"DELETE FROM {CHANGES} WHERE at < ?", (before_us,))
        conn.execute(
            f"DELETE FROM {NOTIFICATIONS} WHERE created_at < ? AND NOT EXISTS "
            f"(SELECT 1 FROM {INBOX} WHERE notification_id = {NOTIFICATIONS}.id)",
            (before_us,),
        )
        trimmed: defaultdict[str, list[tuple[int, ItemState]]] = defaultdict(list)
        for user, seq, read, archived, retracted in rows:
            trimmed[user].append((seq, ItemState(bool(read), bool(archived), bool(retracted))))
        changes, after = plan_trim(trimmed, read_users(conn, trimmed.keys()), now)
        write_changes(conn, changes)
        write_users(conn, after)
    return TrimReport(len(rows), tuple(changes))


def record_stream_ack(conn: sqlite3.Connection, user_id: str, device: str, pos: int) -> AckOutcome:
    """``OutboxStore.record_stream_ack`` (see ``outbox/port.py``) as one transaction."""
    with write_transaction(conn):
        head = stream_head(conn, user_id).pos
        outcome = ack_outcome(stream_acked(conn, user_id, device), head, pos)
        if outcome is AckOutcome.STORED:
            conn.execute(
                f"INSERT INTO {STREAM_ACKS} (user_id, device, pos) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id, device) DO UPDATE SET pos = excluded.pos",
                (user_id, device, pos),
            )
    return outcome
