"""The routing floor: the embedded store's routing writes with no worker around them.

One loop on one ``sqlite3`` connection does what a routing round writes, in batches of the
same size: read pending rows in position order, number each recipient's entries after its
head, insert the bodies, the entries (with their stream position and counts, as protocol v2
stores them) and the counters, delete the routed rows, commit. No lease,
no dedup check, no record objects, no resolvers, no Redis, heads kept in memory and no
checkpoints during the run: what is left is SQLite's share of routing on this machine. The
routing benchmark measures it in the same run as the worker, on the same records, so that the
ratio between the two survives the machine's drift from one run to the next.
"""

import sqlite3
import time
from pathlib import Path

import orjson

from foundation.constants import COUNTERS, INBOX, NOTIFICATIONS, OUTBOX

_PENDING_ROWS = (
    "SELECT id, notification_id, event, data, audience, created_at, origin_session "
    f"FROM {OUTBOX} WHERE status = 'pending' ORDER BY position LIMIT ?"
)
_INSERT_BODY = (
    f"INSERT INTO {NOTIFICATIONS} (id, event, data, created_at, origin_session) "
    "VALUES (?, ?, ?, ?, ?)"
)
# With notifications only and nothing read yet, a user's pos and both counts follow its seq.
_INSERT_ENTRY = (
    f"INSERT INTO {INBOX} (user_id, seq, notification_id, routed_at, pos, unread_after, "
    "unarchived_after) VALUES (?1, ?2, ?3, ?4, ?2, ?2, ?2)"
)
_SET_HEAD = (
    f"INSERT INTO {COUNTERS} (user_id, head, pos, unread, unarchived) VALUES (?1, ?2, ?2, ?2, ?2) "
    "ON CONFLICT (user_id) DO UPDATE SET head = excluded.head, pos = excluded.pos, "
    "unread = excluded.unread, unarchived = excluded.unarchived"
)
_DELETE_ROUTED = f"DELETE FROM {OUTBOX} WHERE id = ?"


def open_bare(path: Path) -> sqlite3.Connection:
    """A connection to the migrated store at ``path`` that never checkpoints by itself.

    Closing it (the last connection to the file) checkpoints the whole log: keep that out of
    what is timed.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


def route_bare(conn: sqlite3.Connection, batch_size: int) -> int:
    """Route every pending record on ``conn`` (see :func:`open_bare`); return entries created."""
    heads: dict[str, int] = {}
    created = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(_PENDING_ROWS, (batch_size,)).fetchall()
        if not rows:
            conn.execute("COMMIT")
            return created
        routed_at = time.time_ns() // 1000
        bodies, entries, touched = [], [], {}
        for _, note_id, event, data, audience, created_at, origin in rows:
            bodies.append((note_id, event, data, created_at, origin))
            for user in orjson.loads(audience)["ids"]:
                heads[user] = touched[user] = seq = heads.get(user, 0) + 1
                entries.append((user, seq, note_id, routed_at))
        conn.executemany(_INSERT_BODY, bodies)
        conn.executemany(_INSERT_ENTRY, entries)
        conn.executemany(_SET_HEAD, touched.items())
        conn.executemany(_DELETE_ROUTED, [(row[0],) for row in rows])
        conn.execute("COMMIT")
        created += len(entries)
