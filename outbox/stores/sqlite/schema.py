"""Applying the embedded store's schema history (``migrations.sqlite``) to a file.

Each version runs in its own ``BEGIN IMMEDIATE`` transaction and records itself in
``tidings_migrations`` in that same transaction, so a crash leaves either the whole version or
none of it, and two processes migrating at once apply each version exactly once.
"""

import sqlite3
import time
from pathlib import Path

from foundation.constants import MIGRATIONS
from foundation.errors import StoreUnavailable
from migrations.sqlite import CREATE_MIGRATIONS_TABLE, SQLITE_MIGRATIONS, Migration
from outbox.stores.sqlite.connection import connect, store_error


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
    """Bring the database at ``path`` to the latest version of ``migrations.sqlite``.

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
        raise store_error(error, path) from error
    try:
        conn.execute(CREATE_MIGRATIONS_TABLE)
        return [m.version for m in SQLITE_MIGRATIONS if _apply_one(conn, m)]
    except sqlite3.Error as error:
        raise store_error(error, path) from error
    finally:
        conn.close()
