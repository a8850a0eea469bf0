"""Connections to the embedded store's file, and the translation of the driver's errors.

Every connection of the embedded store (the store's own, its checkpointer's, the migrator's,
and a host application's through :func:`outbox.stores.sqlite.connect`) is opened here, in
autocommit mode with WAL and a busy timeout.
"""

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from foundation.constants import LEASES, WRITE_PROBE
from foundation.errors import StoreError, StoreUnavailable
from outbox.stores.sqlite.files import unwritable_reason

BUSY_TIMEOUT_SECONDS: Final = 5.0
# How long :func:`retry_while_locked` sleeps between attempts, by how long it has waited so
# far: (waited up to, sleep). Lock holders here are short transactions (a host's emit, a
# routing batch), so a wait is usually over within a millisecond or two.
_LOCK_POLLS: Final = ((0.005, 0.0001), (0.05, 0.0005))
_LOCK_POLL_AFTER: Final = 0.002
_LOCK_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})

# Result codes (primary, low byte) that mean "could not get at the file" (and may pass once
# someone fixes it), not "bad request".
_UNAVAILABLE_CODES: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_FULL,
    }
)
# Result codes whose cause may be in the file system: worth asking it.
_FILE_CODES: Final = frozenset(
    {
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_PERM,
    }
)


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def store_error(error: sqlite3.Error, path: Path | None = None) -> StoreError:
    """Translate a driver error: ``StoreUnavailable`` when the file could not be opened or
    written (locked beyond the busy timeout, read-only, full), ``StoreError`` otherwise.

    With the store's ``path``, a failure the file system explains says so, naming the cause
    and the path (:func:`~outbox.stores.sqlite.files.unwritable_reason`) instead of SQLite's
    "unable to open database file".
    """
    code = _primary_code(error)
    if path is not None and code in _FILE_CODES:
        reason = unwritable_reason(path)
        if reason is not None:
            return StoreUnavailable(f"the sqlite store cannot be written: {reason} ({error})")
    if code in _UNAVAILABLE_CODES:
        return StoreUnavailable(f"sqlite store unavailable: {error}")
    return StoreError(f"sqlite store error: {error}")


def _lock_poll(waited: float) -> float:
    for limit, pause in _LOCK_POLLS:
        if waited < limit:
            return pause
    return _LOCK_POLL_AFTER


def retry_while_locked[T](
    operation: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, timeout: float
) -> T:
    """Run ``operation(conn)``, and run it again while it fails because another connection
    holds the lock, for up to ``timeout`` seconds; then the driver's error propagates.

    For a connection whose own busy timeout is 0 (see :func:`connect`): SQLite's busy handler
    sleeps 1, 2, 5, 10 ... 100 ms between its attempts, so a writer that finds the lock taken
    for a fraction of a millisecond waits milliseconds, and tens of them under load. Here the
    waits are a tenth of a millisecond at first (see ``_LOCK_POLLS``). ``operation`` must be
    one transaction that leaves nothing behind when it raises (``BEGIN IMMEDIATE`` ...
    ``COMMIT``, rolled back on error), or a read: it may run several times.
    """
    started: float | None = None
    while True:
        try:
            return operation(conn)
        except sqlite3.OperationalError as error:
            if _primary_code(error) not in _LOCK_CODES:
                raise
            now = time.monotonic()
            if started is None:
                started = now
            waited = now - started
            if waited >= timeout:
                raise
        time.sleep(_lock_poll(waited))  # waiting for another connection's lock


def probe_write(conn: sqlite3.Connection) -> None:
    """Begin a write on ``conn`` and roll it back: nothing is written, nothing waits.

    Raises ``sqlite3.Error`` when SQLite refuses to write through ``conn`` (a connection
    opened while the file was read-only stays read-only). Another connection holding the
    write lock is taken as an answer, not waited for: someone is writing, so the file takes
    writes. Must not run inside a transaction.
    """
    busy_timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if _primary_code(error) == sqlite3.SQLITE_BUSY:
                return
            raise
        try:
            conn.execute(
                f"INSERT INTO {LEASES} (name, owner, until) VALUES (?, '', 0)", (WRITE_PROBE,)
            )
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")


def connect(
    path: Path, *, create: bool, busy_timeout: float = BUSY_TIMEOUT_SECONDS
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (explicit ``BEGIN`` only) with WAL and a busy timeout.

    ``busy_timeout=0`` leaves waiting for locks to the caller (:func:`retry_while_locked`).

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
