"""Failures, dead records and the lag on the embedded store: each one transaction.

From schema version 4 dead records are in a table of their own, so the outbox holds pending
records only (see ``migrations/sqlite/v4_outbox_holds_pending_only.py``). A record that dies
moves there with its position and a re-queued one moves back with it: its place in claim
order is kept, and no record added meanwhile can have taken it, since every insert takes a
position above those of both tables (``transactions.NEXT_POSITION``). Records that code from
before version 4 made dead stay in the outbox with status ``dead``: the claim never takes
them, and the listing, the counts and re-queue here include them.
"""

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from foundation.constants import DEAD, OUTBOX, OUTBOX_DEAD, PENDING
from outbox.records import LagFigures, OutboxRecord
from outbox.stores.sqlite.rows import RECORD_COLUMNS, json_list, optional_micros, record_from_row
from outbox.stores.sqlite.transactions import NEXT_POSITION, check_lease, write_transaction
from outbox.timestamps import from_micros, to_micros

_IN_JSON: Final = "IN (SELECT value FROM json_each(?))"
# What a record keeps as it is when it moves between the outbox and the dead table.
_KEPT: Final = (
    "id, notification_id, event, data, audience, dedup_key, origin_session, created_at, "
    "kind, collapse_key"
)
# Into the dead table: its position unless a dead record holds it, dead (?1), one attempt
# more, the error (?2), no next attempt.
_TO_DEAD: Final = (
    f"INSERT INTO {OUTBOX_DEAD} (position, {_KEPT}, status, attempts, last_error, "
    "next_attempt_at) SELECT "
    f"CASE WHEN EXISTS (SELECT 1 FROM {OUTBOX_DEAD} AS d WHERE d.position = o.position) "
    f"THEN (SELECT max(position) + 1 FROM {OUTBOX_DEAD}) ELSE o.position END, "
    f"{_KEPT}, ?1, attempts + 1, ?2, NULL FROM {OUTBOX} AS o WHERE id = ?3"
)
# Out of the dead table, taking what _BACK_FROM_DEAD binds.
_TAKE_DEAD: Final = f"DELETE FROM {OUTBOX_DEAD}{{chosen}} RETURNING position, {_KEPT}, last_error"
# Back into the outbox: its position unless a record holds it, pending, no attempts, due now.
_BACK_FROM_DEAD: Final = (
    f"INSERT INTO {OUTBOX} (position, {_KEPT}, last_error, status, attempts, next_attempt_at) "
    f"VALUES (CASE WHEN EXISTS (SELECT 1 FROM {OUTBOX} WHERE position = ?1) "
    f"THEN ({NEXT_POSITION}) ELSE ?1 END, "
    f"{', '.join(f'?{n}' for n in range(2, _KEPT.count(',') + 4))}, '{PENDING}', 0, NULL) "
    "ON CONFLICT (id) DO NOTHING"
)
# The first ?2 dead records of each table (the outbox's: made dead by code before schema
# version 4), merged in position order.
_LIST_DEAD: Final = (
    f"SELECT {RECORD_COLUMNS} FROM (SELECT * FROM (SELECT position, {RECORD_COLUMNS} "
    f"FROM {OUTBOX_DEAD} ORDER BY position LIMIT ?2) UNION ALL SELECT * FROM ("
    f"SELECT position, {RECORD_COLUMNS} FROM {OUTBOX} WHERE status = ?1 "
    "ORDER BY position LIMIT ?2)) ORDER BY position LIMIT ?2"
)


def record_failure(
    conn: sqlite3.Connection,
    owner: str,
    now: datetime,
    record_id: str,
    error: str,
    retry_at: datetime | None,
) -> None:
    """``OutboxStore.record_failure`` (see ``outbox/port.py``) as one transaction on ``conn``.

    A record given a retry stays in the outbox; one without moves to the dead table with its
    position (a fresh one when a record of code before schema version 4 took it).
    """
    with write_transaction(conn):
        check_lease(conn, owner, to_micros(now))
        if retry_at is None:
            conn.execute(_TO_DEAD, (DEAD, error, record_id))
            conn.execute(f"DELETE FROM {OUTBOX} WHERE id = ?", (record_id,))
        else:
            conn.execute(
                f"UPDATE {OUTBOX} SET attempts = attempts + 1, last_error = ?, status = ?, "
                "next_attempt_at = ? WHERE id = ?",
                (error, PENDING, optional_micros(retry_at), record_id),
            )


def list_dead(conn: sqlite3.Connection, limit: int) -> list[OutboxRecord]:
    """``OutboxStore.list_dead`` (see ``outbox/port.py``) as one transaction on ``conn``."""
    rows = conn.execute(_LIST_DEAD, (DEAD, max(limit, 0))).fetchall()
    return [record_from_row(row) for row in rows]


def requeue(conn: sqlite3.Connection, record_ids: Sequence[str] | None) -> int:
    """``OutboxStore.requeue_dead`` (see ``outbox/port.py``) as one transaction on ``conn``.

    Dead records move back to the outbox with their positions, so each keeps its place in
    claim order (a fresh position when another record holds it, which only code before schema
    version 4 can cause); attempts are reset and ``last_error`` kept.
    """
    chosen = "" if record_ids is None else f" WHERE id {_IN_JSON}"
    stale = "" if record_ids is None else f" AND id {_IN_JSON}"
    params: tuple[object, ...] = () if record_ids is None else (json_list(record_ids),)
    with write_transaction(conn):
        # Out of the dead table first: the schema's trigger skips an insert of a dead id.
        moved = conn.execute(_TAKE_DEAD.format(chosen=chosen), params).fetchall()
        conn.executemany(_BACK_FROM_DEAD, sorted(moved))
        # Records that code before schema version 4 made dead stayed in the outbox.
        cursor = conn.execute(
            f"UPDATE {OUTBOX} SET status = ?, attempts = 0, next_attempt_at = NULL "
            f"WHERE status = ?{stale}",
            (PENDING, DEAD, *params),
        )
    return len(moved) + cursor.rowcount


def lag(conn: sqlite3.Connection) -> LagFigures:
    """``OutboxStore.lag`` (see ``outbox/port.py``) as one transaction on ``conn``.

    The outbox is read once for both of its counts (it has no index to count on; records of
    code before schema version 4 may be dead there).
    """
    pending, dead, oldest = conn.execute(
        "SELECT count(*) FILTER (WHERE status = ?1), "
        f"count(*) FILTER (WHERE status = ?2) + (SELECT count(*) FROM {OUTBOX_DEAD}), "
        f"(SELECT created_at FROM {OUTBOX} WHERE status = ?1 ORDER BY position LIMIT 1) "
        f"FROM {OUTBOX}",
        (PENDING, DEAD),
    ).fetchone()
    return LagFigures(pending, dead, None if oldest is None else from_micros(oldest))
