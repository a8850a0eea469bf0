"""Version 4: the outbox holds pending records only; positions without ``AUTOINCREMENT``.

Why: an emit is one insert in the host's transaction, and what it costs is mostly ``COMMIT``
writing every page the insert dirtied. Up to version 3 that was four pages: the outbox row,
its ``id`` index, the claim index ``(status, position, next_attempt_at)`` and the
``sqlite_sequence`` row of ``AUTOINCREMENT``. From this version it is two: the row and its
``id`` index (needed: ``ON CONFLICT (id) DO NOTHING`` is what makes adding a record again a
no-op).

**Dead records have a table of their own** (``tidings_outbox_dead``, same columns). Since
version 2 routing deletes what it routes, so with the dead records moved out the outbox holds
pending records only, and the claim (pending, due, in position order) walks the table in
rowid order with no index of its own: records waiting for a retry are stepped over, as they
were in the claim index. A record that dies moves to the dead table with its position; a
re-queued one moves back with that same position, so it keeps its place in claim order
(before the records added after it), as it did when re-queueing only flipped its status.
The dead listing is in position order, as before.

**Positions are a plain rowid, handed out by the insert itself** as one more than the highest
position in either table, read under the write lock the insert holds. So a new record's
position exceeds that of every record present, pending or dead, and positions follow commit
order (G4: a transaction that began after another committed inserts after it). Positions are
reused once both tables are empty: nothing compares positions over time (records are routed,
failed, listed and re-queued by id; a claim returns records, not positions; positions appear
in no API), so only the order among records present matters. Counting the dead table is what
makes a dead record's position safe to give back at re-queue: no record added while it was
dead can have taken it, and none sorts before it. ``AUTOINCREMENT`` would have given that too,
at the price of writing ``sqlite_sequence`` in every emit's commit. (Re-queueing at a fresh
position, at the end, would have needed neither, but it would break the store contract: a
re-queued record is claimed before the records added after it.) A worker that claims by
reading a snapshot, without the write lock, then appends under the lease check, deletes
what it routed by id; a position given again after the outbox emptied cannot be mistaken for
one it read.

**Adding a record whose id is dead stays a no-op**: the trigger ``tidings_outbox_skip_dead``
skips the insert (``RAISE(IGNORE)``), one lookup in the dead table's ``id`` index, no page
written.

Existing rows are carried over with their positions: pending ones into the new outbox (same
order), dead ones into the dead table. Code from before this version, run on a migrated file
while an upgrade rolls out, still finds its columns: what it adds gets the next rowid of the
outbox alone, and what its worker kills stays in the outbox with status ``dead``. The claim
of this version keeps ``status = 'pending'`` so such a record is never routed; the dead
listing, counts and re-queue include it; and the moves between the two tables fall back to a
fresh position when the record's own is taken (the one case where a position may repeat).
"""

from typing import Final

from foundation.constants import OUTBOX, OUTBOX_DEAD

_OLD: Final = f"{OUTBOX}_v3"
_COLUMNS: Final = """(
        position INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        notification_id TEXT NOT NULL,
        event TEXT NOT NULL,
        data TEXT NOT NULL,
        audience TEXT NOT NULL,
        dedup_key TEXT,
        origin_session TEXT,
        created_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at INTEGER,
        kind TEXT NOT NULL DEFAULT 'notify',
        collapse_key TEXT
    )"""
_ALL: Final = (
    "position, id, notification_id, event, data, audience, dedup_key, origin_session, "
    "created_at, status, attempts, last_error, next_attempt_at, kind, collapse_key"
)

STATEMENTS: Final = (
    f"ALTER TABLE {OUTBOX} RENAME TO {_OLD}",  # its indexes follow it, and go with it below
    f"CREATE TABLE {OUTBOX} {_COLUMNS}",
    f"CREATE TABLE {OUTBOX_DEAD} {_COLUMNS}",
    f"INSERT INTO {OUTBOX} ({_ALL}) SELECT {_ALL} FROM {_OLD} "
    "WHERE status <> 'dead' ORDER BY position",
    f"INSERT INTO {OUTBOX_DEAD} ({_ALL}) SELECT {_ALL} FROM {_OLD} "
    "WHERE status = 'dead' ORDER BY position",
    f"DROP TABLE {_OLD}",
    f"""CREATE TRIGGER {OUTBOX}_skip_dead BEFORE INSERT ON {OUTBOX}
        WHEN EXISTS (SELECT 1 FROM {OUTBOX_DEAD} WHERE id = NEW.id)
        BEGIN SELECT RAISE(IGNORE); END""",
)
