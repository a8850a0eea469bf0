"""The embedded store's side of the host application's transactions.

:func:`insert_outbox_records` joins a transaction the host opened on its own ``sqlite3``
connection to the store's file and never commits: the records exist if and only if the host
commits (G1). :func:`run_in_transaction` runs a host callback in such a transaction, retrying
it while another process holds the file's write lock.
"""

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from foundation.errors import NotInTransaction
from outbox.records import OutboxRecord
from outbox.stores.sqlite.connection import store_error
from outbox.stores.sqlite.rows import record_row
from outbox.stores.sqlite.transactions import INSERT_RECORD

_RETRYABLE: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _require_transaction(conn: sqlite3.Connection) -> None:
    """Raise ``NotInTransaction`` for a connection whose writes would commit on their own."""
    if conn.autocommit is True:
        raise NotInTransaction("emit needs a connection inside a transaction (autocommit=True)")
    legacy = conn.autocommit == sqlite3.LEGACY_TRANSACTION_CONTROL
    if legacy and conn.isolation_level is None and not conn.in_transaction:
        raise NotInTransaction(
            "emit needs a connection inside a transaction (isolation_level=None and no BEGIN)"
        )


def insert_outbox_records(conn: sqlite3.Connection, records: Sequence[OutboxRecord]) -> None:
    """Write ``records`` as pending inside the caller's transaction on the caller's ``conn``.

    Never begins, commits or rolls back: the records exist if and only if the caller commits
    (G1). A connection that cannot be in a transaction (``autocommit=True``, or legacy mode
    with ``isolation_level=None`` outside ``BEGIN``) is refused with ``NotInTransaction``
    before anything is written. A legacy connection with an isolation level opens its
    transaction implicitly at this insert. A record id already stored is skipped, so a
    repeated insert is a no-op. Raises ``ValueError`` for naive datetimes, ``TypeError`` for
    data that is not JSON, ``StoreError`` for driver errors (the caller should roll back).
    """
    _require_transaction(conn)
    try:
        if len(records) == 1:  # one emit: ``execute`` spares the ``executemany`` machinery
            conn.execute(INSERT_RECORD, record_row(records[0]))
        else:
            conn.executemany(INSERT_RECORD, [record_row(record) for record in records])
    except sqlite3.Error as error:
        raise store_error(error) from error


async def run_in_transaction[T](
    conn: sqlite3.Connection, callback: Callable[[Any], Awaitable[T]], deadline_seconds: float
) -> T:
    """Run ``callback(conn)`` between ``BEGIN IMMEDIATE`` and ``COMMIT``.

    ``conn`` must be in autocommit mode (``isolation_level=None``). A ``SQLITE_BUSY`` or
    ``SQLITE_LOCKED`` failure rolls back and runs the callback again, with backoff, until
    ``deadline_seconds`` pass; then the driver's error propagates. Any other exception rolls
    back and propagates.
    """
    deadline = time.monotonic() + deadline_seconds
    delay = 0.005
    while True:
        try:
            return await _attempt(conn, callback)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF not in _RETRYABLE:
                raise
            if time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)  # backoff between attempts, not a wait on a race
        delay = min(delay * 2, 0.5)


async def _attempt[T](conn: sqlite3.Connection, callback: Callable[[Any], Awaitable[T]]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = await callback(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
