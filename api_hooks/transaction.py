"""Run a callback in a transaction with the store's retry rules, then wake the worker.

For MongoDB this is ``with_transaction`` (PyMongo async or Motor): the driver retries the
whole callback on ``TransientTransactionError`` and the commit on
``UnknownTransactionCommitResult``, for up to 120 seconds. For SQLite, a ``SQLITE_BUSY`` or
``SQLITE_LOCKED`` failure rolls back and runs the callback again, with backoff, until
``deadline_seconds`` pass. A callback may therefore run more than once: it must not have
side effects outside the transaction.
"""

import asyncio
import inspect
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

_SQLITE_RETRYABLE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


async def run_in_transaction[T](
    target: Any,
    callback: Callable[[Any], Awaitable[T]],
    *,
    redis: Any = None,
    deadline_seconds: float = 30.0,
) -> T:
    """Run ``callback(session_or_connection)`` in a transaction and commit it.

    ``target`` is a PyMongo ``AsyncMongoClient``, a Motor client, or a ``sqlite3.Connection``
    opened with ``isolation_level=None``. When ``redis`` (a ``redis.asyncio.Redis``) is given,
    the worker is woken after the commit (best effort: the worker's sweep finds the records
    anyway). Exceptions from the callback roll back and propagate.
    """
    if isinstance(target, sqlite3.Connection):
        result = await _run_sqlite(target, callback, deadline_seconds)
    else:
        result = await _run_mongo(target, callback)
    if redis is not None:
        from outbox.live import wake

        await wake(redis)
    return result


async def _run_mongo[T](client: Any, callback: Callable[[Any], Awaitable[T]]) -> T:
    session = client.start_session()
    if inspect.isawaitable(session):  # Motor's start_session is a coroutine
        session = await session
    async with session:
        result: T = await session.with_transaction(callback)
        return result


async def _run_sqlite[T](
    conn: sqlite3.Connection, callback: Callable[[Any], Awaitable[T]], deadline_seconds: float
) -> T:
    deadline = time.monotonic() + deadline_seconds
    delay = 0.005
    while True:
        try:
            return await _sqlite_attempt(conn, callback)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF not in _SQLITE_RETRYABLE:
                raise
            if time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)  # backoff between attempts, not a wait on a race
        delay = min(delay * 2, 0.5)


async def _sqlite_attempt[T](
    conn: sqlite3.Connection, callback: Callable[[Any], Awaitable[T]]
) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = await callback(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
