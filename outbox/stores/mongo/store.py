"""The MongoDB adapter of the storage port, on PyMongo's async API.

Only the modules of this folder import the driver; driver errors are translated at this edge
(:mod:`outbox.stores.mongo.connection`).

Every multi-document write runs in a transaction through the driver's ``with_transaction``
(snapshot reads, majority commit), so the driver's rules for ``TransientTransactionError`` and
``UnknownTransactionCommitResult`` apply. :meth:`MongoStore.connect` refuses a deployment that
cannot run transactions: MongoDB needs a replica set for them (a single-node one is enough).

Claim order and G4: ``claim_batch`` returns pending records ordered by their emit time, which
the emitting host's clock gives inside the emitting transaction (kept to the microsecond in
``created_us``), then by record id. If change B started after change A committed, B's emit
time is later than A's whenever the application hosts' clocks agree to within the time
between A's commit and B's start; under that condition G4 holds, because a single lease holder
routes claimed records in that order and B cannot be visible before A is.

Times are kept as dates and as microseconds (see :mod:`outbox.stores.mongo.documents`), so
they round-trip exactly.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Self

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from foundation.constants import (
    ACKS,
    COUNTERS,
    DEAD,
    INBOX,
    LEASES,
    NOTIFICATIONS,
    NOTIFY,
    OUTBOX,
    PENDING,
    ROUTER_LEASE,
    WRITE_PROBE,
)
from foundation.errors import ConfigurationError, StoreError, StoreUnavailable
from migrations.mongo import LATEST_MONGO_VERSION
from outbox.port import OutboxStore
from outbox.records import AckOutcome, InboxEntry, LagFigures, OutboxRecord, Route
from outbox.sequencing import ack_outcome
from outbox.stores.mongo.appending import (
    fence,
    plan,
    plan_on_streams,
    store_bodies,
    write_entries,
)
from outbox.stores.mongo.connection import check_deployment, new_client, store_errors, translated
from outbox.stores.mongo.documents import (
    Document,
    ack_id,
    next_attempt_fields,
    notification_from_document,
    outbox_document,
    record_from_document,
)
from outbox.stores.mongo.inbox_state import InboxStateOperations
from outbox.stores.mongo.schema import mongo_schema_version
from outbox.stream import Appended
from outbox.timestamps import from_micros, to_micros

_MAJORITY = WriteConcern("majority")
_SNAPSHOT = ReadConcern("snapshot")


class MongoStore(InboxStateOperations):
    """The storage port on MongoDB; build it with :meth:`connect`.

    ``client`` is the driver client and ``database`` the database holding tidings'
    collections (majority reads and writes outside transactions, so that delivery never
    shows a write a failover could roll back).
    """

    def __init__(self, client: AsyncMongoClient[Document], database: str) -> None:
        self.client = client
        self.database: AsyncDatabase[Document] = client.get_database(
            database, read_concern=ReadConcern("majority"), write_concern=_MAJORITY
        )

    @classmethod
    async def connect(cls, url: str, database: str) -> Self:
        """Connect, check the server answers and can run transactions.

        Raises ``StoreUnavailable`` when the server does not answer and ``ConfigurationError``
        for an invalid URL or a deployment without transactions. Messages never contain the
        URL. Does not check the schema: see :meth:`check_schema`.
        """
        client = new_client(url)
        try:
            await check_deployment(client, database)
        except BaseException:
            await client.close()
            raise
        return cls(client, database)

    async def check_schema(self) -> None:
        """Raise ``ConfigurationError`` when the database's schema is behind this code."""
        with translated():
            version = await mongo_schema_version(self.database)
        if version < LATEST_MONGO_VERSION:
            raise ConfigurationError(
                f"MongoDB schema is at version {version}, this tidings needs "
                f"{LATEST_MONGO_VERSION}: run `tidings migrate`"
            )

    def _collection(self, name: str) -> AsyncCollection[Document]:
        return self.database[name]

    async def _transaction[T](self, callback: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run ``callback`` in a transaction; the driver may run it more than once."""
        async with self.client.start_session() as session:
            return await session.with_transaction(
                callback, read_concern=_SNAPSHOT, write_concern=_MAJORITY
            )

    async def close(self) -> None:
        await self.client.close()

    @store_errors
    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def check_writable(self) -> None:
        """See the port: one majority write of a marker (the ``write-probe`` document of the
        leases collection), so no primary, no majority or a full disk all fail it."""
        try:
            with translated():
                await self._collection(LEASES).update_one(
                    {"_id": WRITE_PROBE}, {"$currentDate": {"checked_at": True}}, upsert=True
                )
        except StoreUnavailable:
            raise
        except StoreError as error:
            raise StoreUnavailable(f"MongoDB does not take writes: {error}") from error

    @store_errors
    async def add_records(self, records: Sequence[OutboxRecord]) -> None:
        documents = [outbox_document(record) for record in records]
        if not documents:
            return

        async def insert(session: AsyncClientSession) -> None:
            await self._collection(OUTBOX).insert_many(documents, session=session)

        await self._transaction(insert)

    def commit_watch(self) -> None:
        """None: a watch would be a change stream, a server cursor per worker; the hosts'
        wake-ups and the sweep cover MongoDB."""
        return None

    @store_errors
    async def claim_batch(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[OutboxRecord]:
        if not await self._take_lease(owner, now, lease_seconds) or limit <= 0:
            return []
        due = {"$or": [{"next_attempt_us": None}, {"next_attempt_us": {"$lte": to_micros(now)}}]}
        cursor = (
            self._collection(OUTBOX)
            .find({"status": PENDING, **due})
            .sort([("created_us", 1), ("_id", 1)])
            .limit(limit)
            .batch_size(limit)
        )
        return [record_from_document(document) async for document in cursor]

    async def _take_lease(self, owner: str, now: datetime, lease_seconds: float) -> bool:
        """Take or renew the router lease; False when another owner holds it unexpired."""
        micros, until = to_micros(now), now + timedelta(seconds=lease_seconds)
        try:
            await self._collection(LEASES).find_one_and_update(
                {"_id": ROUTER_LEASE, "$or": [{"owner": owner}, {"until_us": {"$lte": micros}}]},
                {"$set": {"owner": owner, "until": until, "until_us": to_micros(until)}},
                upsert=True,
            )
        except DuplicateKeyError:
            # The filter missed an existing lease document: another owner holds it.
            return False
        return True

    @store_errors
    async def append_to_inbox(
        self, owner: str, now: datetime, routes: Sequence[Route]
    ) -> list[InboxEntry]:
        return (await self.append_routes(owner, now, routes)).entries

    @store_errors
    async def append_routes(self, owner: str, now: datetime, routes: Sequence[Route]) -> Appended:
        notifying = [route for route in routes if route.record.kind == NOTIFY]

        async def route(session: AsyncClientSession) -> Appended:
            await fence(self.database, session, owner, now)
            if not routes:
                return Appended([], [])
            bodies = await store_bodies(self.database, session, notifying, now)
            entries = await plan(self.database, session, notifying, bodies, now)
            placed = await plan_on_streams(self.database, session, routes, entries, now)
            await write_entries(self.database, session, placed)
            await self._collection(OUTBOX).delete_many(
                {"_id": {"$in": [r.record.id for r in routes]}}, session=session
            )
            return Appended(entries, placed.stream())

        result: Appended = await self._transaction(route)
        return result

    @store_errors
    async def record_failure(
        self, owner: str, now: datetime, record_id: str, error: str, retry_at: datetime | None
    ) -> None:
        status = PENDING if retry_at is not None else DEAD

        async def fail(session: AsyncClientSession) -> None:
            await fence(self.database, session, owner, now)
            await self._collection(OUTBOX).update_one(
                # A routed record is no longer here, whatever a late failure report says.
                {"_id": record_id},
                {
                    "$inc": {"attempts": 1},
                    "$set": {
                        "status": status,
                        "last_error": error,
                        **next_attempt_fields(retry_at),
                    },
                },
                session=session,
            )

        await self._transaction(fail)

    @store_errors
    async def release_lease(self, owner: str) -> None:
        await self._collection(LEASES).delete_one({"_id": ROUTER_LEASE, "owner": owner})

    @store_errors
    async def list_dead(self, limit: int) -> list[OutboxRecord]:
        if limit <= 0:
            return []
        cursor = (
            self._collection(OUTBOX)
            .find({"status": DEAD})
            .sort([("created_us", 1), ("_id", 1)])
            .limit(limit)
            .batch_size(limit)
        )
        return [record_from_document(document) async for document in cursor]

    @store_errors
    async def requeue_dead(self, record_ids: Sequence[str] | None, now: datetime) -> int:
        query: Document = {"status": DEAD}
        if record_ids is not None:
            if not record_ids:
                return 0
            query["_id"] = {"$in": list(record_ids)}
        update = {"status": PENDING, "attempts": 0, **next_attempt_fields(None), "requeued_at": now}

        async def requeue(session: AsyncClientSession) -> int:
            result = await self._collection(OUTBOX).update_many(
                query, {"$set": update}, session=session
            )
            return result.modified_count

        return await self._transaction(requeue)

    @store_errors
    async def lag(self) -> LagFigures:
        outbox = self._collection(OUTBOX)
        pending = await outbox.count_documents({"status": PENDING})
        dead = await outbox.count_documents({"status": DEAD})
        oldest = await outbox.find_one(
            {"status": PENDING}, {"created_us": 1}, sort=[("created_us", 1), ("_id", 1)]
        )
        oldest_at = from_micros(oldest["created_us"]) if oldest is not None else None
        return LagFigures(pending=pending, dead=dead, oldest_pending_at=oldest_at)

    @store_errors
    async def head(self, user_id: str) -> int:
        document = await self._collection(COUNTERS).find_one({"_id": user_id})
        return int(document["head"]) if document is not None else 0

    @store_errors
    async def read_inbox_after(self, user_id: str, after_seq: int, limit: int) -> list[InboxEntry]:
        """Two round trips: the entries, then their bodies.

        An entry whose body is gone is being removed by retention and is left out.
        """
        if limit <= 0:
            return []
        cursor = (
            self._collection(INBOX)
            .find({"user_id": user_id, "seq": {"$gt": after_seq}})
            .sort("seq", 1)
            .limit(limit)
            .batch_size(limit)
        )
        entries = await cursor.to_list()
        wanted = sorted({entry["notification_id"] for entry in entries})
        if not wanted:
            return []
        bodies_cursor = self._collection(NOTIFICATIONS).find({"_id": {"$in": wanted}})
        bodies = {
            document["_id"]: notification_from_document(document)
            async for document in bodies_cursor.batch_size(len(wanted) + 1)
        }
        return [
            InboxEntry(
                user_id,
                entry["seq"],
                bodies[entry["notification_id"]],
                from_micros(entry["routed_us"]),
            )
            for entry in entries
            if entry["notification_id"] in bodies
        ]

    @store_errors
    async def count_after(self, user_id: str, after_seq: int) -> int:
        """See the port; counted on the ``(user_id, seq)`` index."""
        query = {"user_id": user_id, "seq": {"$gt": after_seq}}
        return await self._collection(INBOX).count_documents(query)

    @store_errors
    async def acked(self, user_id: str, device: str) -> int:
        document = await self._collection(ACKS).find_one({"_id": ack_id(user_id, device)})
        return int(document["seq"]) if document is not None else 0

    @store_errors
    async def record_ack(self, user_id: str, device: str, seq: int) -> AckOutcome:
        head = await self.head(user_id)
        outcome = ack_outcome(await self.acked(user_id, device), head, seq)
        if outcome is not AckOutcome.STORED:
            return outcome
        try:
            # Conditional on the stored ack being lower, so a racing higher ack is kept.
            await self._collection(ACKS).update_one(
                {"_id": ack_id(user_id, device), "seq": {"$lt": seq}},
                {"$set": {"seq": seq, "user_id": user_id, "device": device}},
                upsert=True,
            )
        except DuplicateKeyError:
            # Another call stored an ack at least as high between the read and the write.
            return ack_outcome(await self.acked(user_id, device), head, seq)
        return AckOutcome.STORED

    async def trim(self, before: datetime) -> int:
        return (await self.trim_stream(before, before)).deleted


if TYPE_CHECKING:
    _CONFORMS: type[OutboxStore] = MongoStore
