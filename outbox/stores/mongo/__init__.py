"""MongoDB, for production (``mongodb://`` and ``mongodb+srv://``, a replica set).

Everything the store needs is in this folder: connecting and error translation
(``connection``), documents (``documents``), the schema applier (``schema``, over
``migrations/mongo/``), the store (``store``, ``appending``, ``retention``) and the host
application's side for PyMongo async and Motor sessions (``host``). :data:`ADAPTER` is what
``outbox.stores`` picks for the ``mongodb`` schemes. The database is
``TIDINGS_MONGODB_DATABASE``.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from pymongo import AsyncMongoClient

from foundation.settings import Settings
from outbox.records import OutboxRecord
from outbox.stores.mongo import host
from outbox.stores.mongo.connection import new_client
from outbox.stores.mongo.documents import Document
from outbox.stores.mongo.schema import apply_mongo
from outbox.stores.mongo.store import MongoStore


class MongoAdapter:
    """The :class:`outbox.port.StoreAdapter` of MongoDB."""

    name: Final = "mongodb"
    watches_commits: Final = False  # nothing as cheap as a poll: hosts send wake-ups

    async def open(self, settings: Settings) -> MongoStore:
        store = await MongoStore.connect(settings.resolved_store_url, settings.mongodb_database)
        try:
            await store.check_schema()
        except BaseException:
            await store.close()
            raise
        return store

    async def migrate(self, settings: Settings) -> int:
        store = await MongoStore.connect(settings.resolved_store_url, settings.mongodb_database)
        try:
            applied = await apply_mongo(store.database)
        finally:
            await store.close()
        return len(applied)

    def connect_host(self, settings: Settings) -> AsyncMongoClient[Document]:
        return new_client(settings.resolved_store_url)

    def owns_session(self, session: object) -> bool:
        return host.is_session(session)

    async def write_records(
        self, session: Any, records: Sequence[OutboxRecord], *, database: str
    ) -> None:
        await host.insert_outbox_records(session, database, records)

    def owns_client(self, target: object) -> bool:
        return host.is_client(target)

    async def run_in_transaction[T](
        self, target: Any, callback: Callable[[Any], Awaitable[T]], *, deadline_seconds: float
    ) -> T:
        # The driver's with_transaction keeps its own deadline (120 s) for retries.
        return await host.run_in_transaction(target, callback)


ADAPTER: Final = MongoAdapter()

__all__ = ["ADAPTER", "MongoStore"]
