"""Version 1 of the embedded store's schema: every table and index, as first released.

Claim order (G4) is the outbox's ``position`` column, an ``INTEGER PRIMARY KEY
AUTOINCREMENT``. SQLite serializes writers: a transaction holds the single write lock from its
first write until it commits or rolls back. So a transaction that began after another one
committed takes its positions after it, and positions are handed out in commit order.
``AUTOINCREMENT`` (rather than a plain rowid) keeps positions from being reused after routing
deletes the newest records.

Times are integers: microseconds since the epoch, UTC, so round trips are exact. JSON columns
(``data``, ``audience``) hold JSON text.
"""

from typing import Final

from foundation.constants import ACKS, COUNTERS, INBOX, LEASES, NOTIFICATIONS, OUTBOX

STATEMENTS: Final = (
    f"""CREATE TABLE {OUTBOX} (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
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
        next_attempt_at INTEGER
    )""",
    # Serves the claim: equality on status, then position order, due time read from the index.
    f"CREATE INDEX {OUTBOX}_claim ON {OUTBOX} (status, position, next_attempt_at)",
    # Served lag and trim of routed records; dropped by version 2 (see there).
    f"CREATE INDEX {OUTBOX}_status_created ON {OUTBOX} (status, created_at)",
    f"""CREATE TABLE {NOTIFICATIONS} (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        origin_session TEXT
    )""",
    f"CREATE INDEX {NOTIFICATIONS}_created ON {NOTIFICATIONS} (created_at)",
    # UNIQUE leads with notification_id so the same index answers "who holds this
    # notification" for routing and "does any entry still need this body" for trim.
    f"""CREATE TABLE {INBOX} (
        user_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        notification_id TEXT NOT NULL,
        routed_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, seq),
        UNIQUE (notification_id, user_id)
    ) WITHOUT ROWID""",
    f"CREATE INDEX {INBOX}_routed ON {INBOX} (routed_at)",
    f"""CREATE TABLE {COUNTERS} (
        user_id TEXT PRIMARY KEY,
        head INTEGER NOT NULL
    ) WITHOUT ROWID""",
    f"""CREATE TABLE {ACKS} (
        user_id TEXT NOT NULL,
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (user_id, device)
    ) WITHOUT ROWID""",
    f"""CREATE TABLE {LEASES} (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until INTEGER NOT NULL
    )""",
)
