"""Forward-only, versioned migrations of the embedded SQLite store.

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction and records itself in
``tidings_migrations`` in that same transaction, so a crash leaves either the whole version or
none of it, and two processes migrating at once apply each version exactly once.

Claim order (G4) in this store is the outbox's ``position`` column, an ``INTEGER PRIMARY KEY
AUTOINCREMENT``. SQLite serializes writers: a transaction holds the single write lock from its
first write until it commits or rolls back. So a transaction that began after another one
committed takes its positions after it, and positions are handed out in commit order.
``AUTOINCREMENT`` (rather than a plain rowid) keeps positions from being reused after routing
deletes the newest records.

Times are integers: microseconds since the epoch, UTC, so round trips are exact. JSON columns
(``data``, ``audience``) hold JSON text.

The declared schema (:data:`DECLARED_SQLITE_INDEXES`) lists every index, automatic ones
included: SQLite names the indexes behind ``PRIMARY KEY`` and ``UNIQUE`` constraints
``sqlite_autoindex_<table>_<n>``, numbered in the order the constraints appear, and those
constraints are what make repeated inbox appends no-ops (G2, G3), so the migration test checks
them like any other index. An ``INTEGER PRIMARY KEY`` is the rowid itself and has no index.
"""

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from tidings.constants import ACKS, COUNTERS, INBOX, LEASES, MIGRATIONS, NOTIFICATIONS, OUTBOX
from tidings.errors import StoreError, StoreUnavailable

BUSY_TIMEOUT_SECONDS: Final = 5.0

# Result codes (primary, low byte) that mean "could not get at the file", not "bad request".
_UNAVAILABLE_CODES: Final = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN}
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: statements applied together, in order, in one transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


class IndexSpec(NamedTuple):
    """An index as the migration test compares it: table, key columns in order, uniqueness."""

    table: str
    columns: tuple[str, ...]
    unique: bool


_INITIAL: Final = (
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

# Version 1 kept routed records with status 'routed' until trim; from version 2 routing
# deletes them, so the records version 1 left routed go too. The outbox then holds pending and
# dead records only, and the claim index answers what (status, created_at) served: the counts
# by status, the first pending record and the dead listing, all in position order.
_ROUTED_LEAVE_THE_OUTBOX: Final = (
    f"DELETE FROM {OUTBOX} WHERE status = 'routed'",
    f"DROP INDEX {OUTBOX}_status_created",
)

SQLITE_MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "initial schema", _INITIAL),
    Migration(2, "routed records leave the outbox", _ROUTED_LEAVE_THE_OUTBOX),
)
LATEST_SQLITE_VERSION: Final = SQLITE_MIGRATIONS[-1].version

DECLARED_SQLITE_INDEXES: Final[dict[str, IndexSpec]] = {
    f"sqlite_autoindex_{OUTBOX}_1": IndexSpec(OUTBOX, ("id",), True),
    f"{OUTBOX}_claim": IndexSpec(OUTBOX, ("status", "position", "next_attempt_at"), False),
    f"sqlite_autoindex_{NOTIFICATIONS}_1": IndexSpec(NOTIFICATIONS, ("id",), True),
    f"{NOTIFICATIONS}_created": IndexSpec(NOTIFICATIONS, ("created_at",), False),
    f"sqlite_autoindex_{INBOX}_1": IndexSpec(INBOX, ("user_id", "seq"), True),
    f"sqlite_autoindex_{INBOX}_2": IndexSpec(INBOX, ("notification_id", "user_id"), True),
    f"{INBOX}_routed": IndexSpec(INBOX, ("routed_at",), False),
    f"sqlite_autoindex_{COUNTERS}_1": IndexSpec(COUNTERS, ("user_id",), True),
    f"sqlite_autoindex_{ACKS}_1": IndexSpec(ACKS, ("user_id", "device"), True),
    f"sqlite_autoindex_{LEASES}_1": IndexSpec(LEASES, ("name",), True),
}

_CREATE_MIGRATIONS_TABLE: Final = f"""CREATE TABLE IF NOT EXISTS {MIGRATIONS} (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)"""


def store_error(error: sqlite3.Error) -> StoreError:
    """Translate a driver error: ``StoreUnavailable`` when the file could not be opened or
    stayed locked beyond the busy timeout, ``StoreError`` for anything else."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF) in _UNAVAILABLE_CODES:
        return StoreUnavailable(f"sqlite store unavailable: {error}")
    return StoreError(f"sqlite store error: {error}")


def connect(
    path: Path, *, create: bool, busy_timeout: float = BUSY_TIMEOUT_SECONDS
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (explicit ``BEGIN`` only) with WAL and a busy timeout.

    With ``create=False`` a missing file is an error instead of a new empty database.
    WAL with ``synchronous=NORMAL`` never loses a committed transaction when the process is
    killed (only a power loss can drop the last commits). Raises ``sqlite3.Error``.
    """
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode={mode}",
        uri=True,
        timeout=busy_timeout,
        isolation_level=None,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def sqlite_schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration version; 0 for a database never migrated."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS,)
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute(f"SELECT MAX(version) FROM {MIGRATIONS}").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def _apply_one(conn: sqlite3.Connection, migration: Migration) -> bool:
    """Apply ``migration`` unless present; True when applied now. Re-checked under the lock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if sqlite_schema_version(conn) >= migration.version:
            conn.execute("ROLLBACK")
            return False
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(
            f"INSERT INTO {MIGRATIONS} (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, time.time_ns() // 1000),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True


def apply_sqlite(path: Path) -> list[int]:
    """Bring the database at ``path`` to :data:`LATEST_SQLITE_VERSION`.

    Creates parent directories and the file when missing and switches it to WAL. Returns the
    versions applied by this call, ascending; ``[]`` when the schema was already current.
    Raises ``StoreError`` (``StoreUnavailable`` when the file cannot be opened or stays locked).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path, create=True)
    except OSError as error:
        raise StoreUnavailable(f"cannot create the sqlite store at {path}: {error}") from error
    except sqlite3.Error as error:
        raise store_error(error) from error
    try:
        conn.execute(_CREATE_MIGRATIONS_TABLE)
        return [m.version for m in SQLITE_MIGRATIONS if _apply_one(conn, m)]
    except sqlite3.Error as error:
        raise store_error(error) from error
    finally:
        conn.close()
