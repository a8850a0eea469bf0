"""Run a callback in a transaction with the store's retry rules, then wake the worker.

For MongoDB this is ``with_transaction`` (PyMongo async or Motor): the driver retries the
whole callback on ``TransientTransactionError`` and the commit on
``UnknownTransactionCommitResult``, for up to 120 seconds. For SQLite, a ``SQLITE_BUSY`` or
``SQLITE_LOCKED`` failure rolls back and runs the callback again, with backoff, until
``deadline_seconds`` pass. A callback may therefore run more than once: it must not have
side effects outside the transaction.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from api_hooks.wake import wake
from broker import Broker
from outbox import stores


async def run_in_transaction[T](
    target: Any,
    callback: Callable[[Any], Awaitable[T]],
    *,
    broker: Broker | None = None,
    deadline_seconds: float = 30.0,
) -> T:
    """Run ``callback(session_or_connection)`` in a transaction and commit it.

    ``target`` is a PyMongo ``AsyncMongoClient``, a Motor client, or a ``sqlite3.Connection``
    opened with ``isolation_level=None``. When ``broker`` (see ``broker.open_broker``) is
    given, the worker is woken after the commit (best effort: the worker's sweep finds the
    records anyway). Exceptions from the callback roll back and propagate; a ``target`` no store
    recognizes raises ``TypeError``.
    """
    result = await stores.run_in_transaction(target, callback, deadline_seconds=deadline_seconds)
    if broker is not None:
        await wake(broker)
    return result
