"""Connecting to MongoDB, checking it can run transactions, and translating driver errors.

Connection failures become ``StoreUnavailable``, every other ``PyMongoError`` becomes
``StoreError``; messages never contain the URL or its credentials.
"""

import contextlib
import functools
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from datetime import UTC
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError as DriverConfigurationError
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from foundation.constants import MIGRATIONS
from foundation.errors import ConfigurationError, StoreError, StoreUnavailable
from outbox.stores.mongo.documents import Document

_NO_TRANSACTIONS = (
    "this MongoDB deployment cannot run transactions; tidings needs a replica set "
    "(a single-node replica set is enough) or a sharded cluster"
)


def transactions_supported(hello: Mapping[str, Any]) -> bool:
    """Whether a ``hello`` reply says the server runs transactions.

    True for a replica set member (``setName``) and for mongos (``msg == "isdbgrid"``). False
    means "not reported", not "impossible": see :meth:`MongoStore.connect`.
    """
    return "setName" in hello or hello.get("msg") == "isdbgrid"


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn driver errors into the project's own, keeping the driver's as the cause."""
    try:
        yield
    except ConnectionFailure as error:
        raise StoreUnavailable(f"MongoDB unreachable: {error}") from error
    except PyMongoError as error:
        raise StoreError(f"MongoDB operation failed: {error}") from error


def store_errors[**P, T](
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def translating(*args: P.args, **kwargs: P.kwargs) -> T:
        with translated():
            return await method(*args, **kwargs)

    return translating


def redacted(message: str, url: str) -> str:
    """``message`` without the URL, its user information or its password."""
    userinfo = url.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    secrets = {url, userinfo, password, urllib.parse.unquote_plus(password)} - {""}
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "<redacted>")
    return message


def new_client(url: str) -> AsyncMongoClient[Document]:
    try:
        return AsyncMongoClient(url, tz_aware=True, tzinfo=UTC, appname="tidings")
    except (PyMongoError, ValueError, TypeError) as error:
        # ``from None``: the driver's exception could carry the URL into a traceback.
        message = redacted(str(error), url)
        raise ConfigurationError(f"invalid MongoDB URL: {message}") from None


async def _transaction_probe(client: AsyncMongoClient[Document], database: str) -> bool:
    """Whether one read inside a transaction succeeds (it is then aborted)."""
    try:
        async with client.start_session() as session:
            await session.start_transaction()
            try:
                await client[database][MIGRATIONS].find_one({}, session=session)
            finally:
                await session.abort_transaction()
    except (OperationFailure, DriverConfigurationError):
        return False
    return True


async def check_deployment(client: AsyncMongoClient[Document], database: str) -> None:
    with translated():
        await client.admin.command("ping")
        hello = await client.admin.command("hello")
        # Some wire-compatible servers run transactions without reporting a set name.
        if transactions_supported(hello) or await _transaction_probe(client, database):
            return
    raise ConfigurationError(_NO_TRANSACTIONS)
