"""MongoDB's side of the host application's transactions, for PyMongo async and Motor.

:func:`insert_outbox_records` joins a transaction the host opened on its own session and never
commits: the records exist if and only if the host commits (G1). :func:`run_in_transaction`
runs a host callback with the driver's ``with_transaction`` and its retry rules. Both take the
driver objects the host already has; this module only calls methods on them, so Motor needs no
import here.
"""

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from foundation.constants import OUTBOX
from foundation.errors import NotInTransaction
from outbox.records import OutboxRecord
from outbox.stores.mongo.documents import outbox_document


def is_session(session: object) -> bool:
    """Whether ``session`` looks like a PyMongo async or Motor client session."""
    return hasattr(session, "in_transaction") and hasattr(session, "client")


def is_client(target: object) -> bool:
    """Whether ``target`` looks like a PyMongo async or Motor client (it starts sessions)."""
    return callable(getattr(target, "start_session", None))


async def insert_outbox_records(
    session: Any, database_name: str, records: Sequence[OutboxRecord]
) -> None:
    """Write ``records`` as pending inside the caller's open transaction.

    ``session`` is a PyMongo ``AsyncClientSession`` or a Motor ``AsyncIOMotorClientSession``.
    Only ``insert_one``/``insert_many`` run, with ``session=``; nothing is committed here.
    Raises ``NotInTransaction`` (writing nothing) for a session outside a transaction. Driver
    errors are not translated: the caller's ``with_transaction`` reads their error labels to
    decide whether to retry.
    """
    if getattr(session, "in_transaction", False) is not True:
        raise NotInTransaction()
    documents = [outbox_document(record) for record in records]
    if not documents:
        return
    collection = session.client[database_name][OUTBOX]
    if len(documents) == 1:
        await collection.insert_one(documents[0], session=session)
    else:
        await collection.insert_many(documents, session=session)


async def run_in_transaction[T](client: Any, callback: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``callback(session)`` with the driver's ``with_transaction`` and commit.

    The driver retries the whole callback on ``TransientTransactionError`` and the commit on
    ``UnknownTransactionCommitResult``, for up to 120 seconds.
    """
    session = client.start_session()
    if inspect.isawaitable(session):  # Motor's start_session is a coroutine
        session = await session
    async with session:
        result: T = await session.with_transaction(callback)
        return result
