"""Connections to the embedded store's file, and the translation of the driver's errors.

Every connection of the embedded store (the store's own, its checkpointer's, the migrator's,
and a host application's through :func:`outbox.stores.sqlite.connect`) is opened here, in
autocommit mode with WAL and a busy timeout.
"""

import sqlite3
from pathlib import Path
from typing import Final

from foundation.errors import StoreError, StoreUnavailable

BUSY_TIMEOUT_SECONDS: Final = 5.0

# Result codes (primary, low byte) that mean "could not get at the file", not "bad request".
_UNAVAILABLE_CODES: Final = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN}
)


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
