"""The MongoDB adapter of the storage port, on PyMongo's async API.

This module and ``migrations/mongo.py`` are the only ones that import the driver. Driver
errors are translated here: connection failures become ``StoreUnavailable``, every other
``PyMongoError`` becomes ``StoreError``.

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

Times: BSON dates hold milliseconds, so each stored time is kept twice: as a date (for people,
the TTL index and index bounds) and as microseconds since the Unix epoch (``created_us``,
``next_attempt_us``, ``routed_us``), which the store compares and reads back. Times therefore
round-trip exactly.
"""

import contextlib
import functools
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError as DriverConfigurationError
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from migrations.mongo import LATEST_MONGO_VERSION, mongo_schema_version
from outbox.records import (
    AckOutcome,
    InboxEntry,
    LagFigures,
    Notification,
    OutboxRecord,
    Route,
    audience_from_dict,
    audience_to_dict,
)
from outbox.sequencing import ack_outcome, batch_bodies, plan_entries
from outbox.store import OutboxStore
from outbox.timestamps import from_micros, to_micros
from tidings.constants import (
    ACKS,
    COUNTERS,
    DEAD,
    INBOX,
    LEASES,
    MIGRATIONS,
    NOTIFICATIONS,
    OUTBOX,
    PENDING,
    ROUTER_LEASE,
)
from tidings.errors import (
    ConfigurationError,
    LeaseLost,
    NotInTransaction,
    StoreError,
    StoreUnavailable,
)

type Document = dict[str, Any]

_MAJORITY = WriteConcern("majority")
_SNAPSHOT = ReadConcern("snapshot")
# Trim works in chunks so that no transaction grows with the backlog it cleans up.
_TRIM_CHUNK = 1000
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


def outbox_document(record: OutboxRecord) -> Document:
    """The stored form of an outbox record; the store and the emit hook both write this."""
    return {
        "_id": record.id,
        "notification_id": record.notification_id,
        "event": record.event,
        "data": record.data,
        "audience": audience_to_dict(record.audience),
        "dedup_key": record.dedup_key,
        "origin_session": record.origin_session,
        "created_at": record.created_at,
        "created_us": to_micros(record.created_at),
        "status": record.status,
        "attempts": record.attempts,
        "last_error": record.last_error,
        **_next_attempt(record.next_attempt_at),
    }


def _next_attempt(moment: datetime | None) -> Document:
    micros = to_micros(moment) if moment is not None else None
    return {"next_attempt_at": moment, "next_attempt_us": micros}


def _optional_time(micros: int | None) -> datetime | None:
    return from_micros(micros) if micros is not None else None


def record_from_document(document: Mapping[str, Any]) -> OutboxRecord:
    """Decode what :func:`outbox_document` wrote (with later status changes)."""
    return OutboxRecord(
        id=document["_id"],
        notification_id=document["notification_id"],
        event=document["event"],
        data=document["data"],
        audience=audience_from_dict(document["audience"]),
        created_at=from_micros(document["created_us"]),
        dedup_key=document.get("dedup_key"),
        origin_session=document.get("origin_session"),
        status=document["status"],
        attempts=document.get("attempts", 0),
        last_error=document.get("last_error"),
        next_attempt_at=_optional_time(document.get("next_attempt_us")),
    )


def _body_document(notification: Notification, now: datetime) -> Document:
    return {
        "_id": notification.id,
        "event": notification.event,
        "data": notification.data,
        "created_at": notification.created_at,
        "created_us": to_micros(notification.created_at),
        "origin_session": notification.origin_session,
        "stored_at": now,
    }


def _notification_from_document(document: Mapping[str, Any]) -> Notification:
    return Notification(
        id=document["_id"],
        event=document["event"],
        data=document["data"],
        created_at=from_micros(document["created_us"]),
        origin_session=document.get("origin_session"),
    )


def _entry_document(entry: InboxEntry) -> Document:
    return {
        "user_id": entry.user_id,
        "seq": entry.seq,
        "notification_id": entry.notification.id,
        "routed_at": entry.routed_at,
        "routed_us": to_micros(entry.routed_at),
    }


def _ack_id(user_id: str, device: str) -> Document:
    return {"u": user_id, "d": device}


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Turn driver errors into the project's own, keeping the driver's as the cause."""
    try:
        yield
    except ConnectionFailure as error:
        raise StoreUnavailable(f"MongoDB unreachable: {error}") from error
    except PyMongoError as error:
        raise StoreError(f"MongoDB operation failed: {error}") from error


def _store_errors[**P, T](
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def translating(*args: P.args, **kwargs: P.kwargs) -> T:
        with _translated():
            return await method(*args, **kwargs)

    return translating


def _redacted(message: str, url: str) -> str:
    """``message`` without the URL, its user information or its password."""
    userinfo = url.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    secrets = {url, userinfo, password, urllib.parse.unquote_plus(password)} - {""}
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "<redacted>")
    return message


def _new_client(url: str) -> AsyncMongoClient[Document]:
    try:
        return AsyncMongoClient(url, tz_aware=True, tzinfo=UTC, appname="tidings")
    except (PyMongoError, ValueError, TypeError) as error:
        # ``from None``: the driver's exception could carry the URL into a traceback.
        message = _redacted(str(error), url)
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


async def _check_deployment(client: AsyncMongoClient[Document], database: str) -> None:
    with _translated():
        await client.admin.command("ping")
        hello = await client.admin.command("hello")
        # Some wire-compatible servers run transactions without reporting a set name.
        if transactions_supported(hello) or await _transaction_probe(client, database):
            return
    raise ConfigurationError(_NO_TRANSACTIONS)


class MongoStore:
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
        client = _new_client(url)
        try:
            await _check_deployment(client, database)
        except BaseException:
            await client.close()
            raise
        return cls(client, database)

    async def check_schema(self) -> None:
        """Raise ``ConfigurationError`` when the database's schema is behind this code."""
        with _translated():
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

    @_store_errors
    async def ping(self) -> None:
        await self.client.admin.command("ping")

    @_store_errors
    async def add_records(self, records: Sequence[OutboxRecord]) -> None:
        documents = [outbox_document(record) for record in records]
        if not documents:
            return

        async def insert(session: AsyncClientSession) -> None:
            await self._collection(OUTBOX).insert_many(documents, session=session)

        await self._transaction(insert)

    @_store_errors
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

    @_store_errors
    async def append_to_inbox(
        self, owner: str, now: datetime, routes: Sequence[Route]
    ) -> list[InboxEntry]:
        async def route(session: AsyncClientSession) -> list[InboxEntry]:
            await self._fence(session, owner, now)
            if not routes:
                return []
            bodies = await self._store_bodies(session, routes, now)
            entries = await self._plan(session, routes, bodies, now)
            await self._write_entries(session, entries)
            await self._collection(OUTBOX).delete_many(
                {"_id": {"$in": [r.record.id for r in routes]}}, session=session
            )
            return entries

        return await self._transaction(route)

    async def _fence(self, session: AsyncClientSession, owner: str, now: datetime) -> None:
        """Raise ``LeaseLost`` unless ``owner`` holds the lease.

        The write (not only a read) makes a concurrent takeover of the lease conflict with
        this transaction, so one of the two aborts.
        """
        result = await self._collection(LEASES).update_one(
            {"_id": ROUTER_LEASE, "owner": owner, "until_us": {"$gt": to_micros(now)}},
            {"$inc": {"fence": 1}},
            session=session,
        )
        if result.matched_count == 0:
            raise LeaseLost(f"routing lease not held by {owner!r}")

    async def _store_bodies(
        self, session: AsyncClientSession, routes: Sequence[Route], now: datetime
    ) -> dict[str, Notification]:
        """Insert the bodies not stored yet and move ``stored_at`` of the others to ``now``.

        Returns the batch's notifications by id, as stored: a body already stored wins over
        the route's. Plain inserts, not upserts: an update may not store field names that
        start with ``$``, which ``data`` may hold. Touching the bodies already stored makes
        this transaction conflict with a trim deleting one of them, and keeps them out of
        the next trim.
        """
        bodies = self._collection(NOTIFICATIONS)
        wanted = sorted({route.record.notification_id for route in routes})
        found = bodies.find({"_id": {"$in": wanted}}, session=session)
        stored = {
            document["_id"]: _notification_from_document(document)
            async for document in found.batch_size(len(wanted) + 1)
        }
        batch, missing = batch_bodies(routes, stored)
        if missing:
            await bodies.insert_many(
                [_body_document(body, now) for body in missing], session=session
            )
        if stored:
            await bodies.update_many(
                {"_id": {"$in": list(stored)}}, {"$max": {"stored_at": now}}, session=session
            )
        return batch

    async def _plan(
        self,
        session: AsyncClientSession,
        routes: Sequence[Route],
        bodies: Mapping[str, Notification],
        now: datetime,
    ) -> list[InboxEntry]:
        """Read what the batch's recipients hold and their heads (two finds), then plan."""
        users = sorted({user for route in routes for user in route.recipients})
        if not users:
            return []
        notification_ids = sorted({route.record.notification_id for route in routes})
        pairs = sum(len(route.recipients) for route in routes)
        held_query = {"notification_id": {"$in": notification_ids}, "user_id": {"$in": users}}
        # Batch sizes above the most a find can return keep each find one round trip.
        held_cursor = self._collection(INBOX).find(
            held_query, {"_id": 0, "user_id": 1, "notification_id": 1}, session=session
        )
        held = {
            (document["user_id"], document["notification_id"])
            async for document in held_cursor.batch_size(pairs + 1)
        }
        heads_cursor = self._collection(COUNTERS).find({"_id": {"$in": users}}, session=session)
        heads = {
            document["_id"]: document["head"]
            async for document in heads_cursor.batch_size(len(users) + 1)
        }
        return plan_entries(routes, bodies, held, heads, now)

    async def _write_entries(self, session: AsyncClientSession, entries: list[InboxEntry]) -> None:
        if not entries:
            return
        await self._collection(INBOX).insert_many(
            [_entry_document(entry) for entry in entries], session=session
        )
        heads = {entry.user_id: entry.seq for entry in entries}
        await self._collection(COUNTERS).bulk_write(
            [UpdateOne({"_id": u}, {"$set": {"head": h}}, upsert=True) for u, h in heads.items()],
            session=session,
        )

    @_store_errors
    async def record_failure(self, record_id: str, error: str, retry_at: datetime | None) -> None:
        status = PENDING if retry_at is not None else DEAD
        await self._collection(OUTBOX).update_one(
            # A routed record is no longer here, whatever a late failure report says.
            {"_id": record_id},
            {
                "$inc": {"attempts": 1},
                "$set": {"status": status, "last_error": error, **_next_attempt(retry_at)},
            },
        )

    @_store_errors
    async def release_lease(self, owner: str) -> None:
        await self._collection(LEASES).delete_one({"_id": ROUTER_LEASE, "owner": owner})

    @_store_errors
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

    @_store_errors
    async def requeue_dead(self, record_ids: Sequence[str] | None, now: datetime) -> int:
        query: Document = {"status": DEAD}
        if record_ids is not None:
            if not record_ids:
                return 0
            query["_id"] = {"$in": list(record_ids)}
        update = {"status": PENDING, "attempts": 0, **_next_attempt(None), "requeued_at": now}

        async def requeue(session: AsyncClientSession) -> int:
            result = await self._collection(OUTBOX).update_many(
                query, {"$set": update}, session=session
            )
            return result.modified_count

        return await self._transaction(requeue)

    @_store_errors
    async def lag(self) -> LagFigures:
        outbox = self._collection(OUTBOX)
        pending = await outbox.count_documents({"status": PENDING})
        dead = await outbox.count_documents({"status": DEAD})
        oldest = await outbox.find_one(
            {"status": PENDING}, {"created_us": 1}, sort=[("created_us", 1), ("_id", 1)]
        )
        oldest_at = from_micros(oldest["created_us"]) if oldest is not None else None
        return LagFigures(pending=pending, dead=dead, oldest_pending_at=oldest_at)

    @_store_errors
    async def head(self, user_id: str) -> int:
        document = await self._collection(COUNTERS).find_one({"_id": user_id})
        return int(document["head"]) if document is not None else 0

    @_store_errors
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
            document["_id"]: _notification_from_document(document)
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

    @_store_errors
    async def acked(self, user_id: str, device: str) -> int:
        document = await self._collection(ACKS).find_one({"_id": _ack_id(user_id, device)})
        return int(document["seq"]) if document is not None else 0

    @_store_errors
    async def record_ack(self, user_id: str, device: str, seq: int) -> AckOutcome:
        head = await self.head(user_id)
        outcome = ack_outcome(await self.acked(user_id, device), head, seq)
        if outcome is not AckOutcome.STORED:
            return outcome
        try:
            # Conditional on the stored ack being lower, so a racing higher ack is kept.
            await self._collection(ACKS).update_one(
                {"_id": _ack_id(user_id, device), "seq": {"$lt": seq}},
                {"$set": {"seq": seq, "user_id": user_id, "device": device}},
                upsert=True,
            )
        except DuplicateKeyError:
            # Another call stored an ack at least as high between the read and the write.
            return ack_outcome(await self.acked(user_id, device), head, seq)
        return AckOutcome.STORED

    @_store_errors
    async def trim(self, before: datetime) -> int:
        deleted = 0
        scanned = _TRIM_CHUNK
        while scanned == _TRIM_CHUNK:
            scanned, removed = await self._transaction(
                functools.partial(self._trim_entries, before=before)
            )
            deleted += removed
        after: str | None = ""
        while after is not None:
            after = await self._transaction(
                functools.partial(self._trim_bodies, before=before, after=after)
            )
        return deleted

    async def _trim_entries(
        self, session: AsyncClientSession, *, before: datetime
    ) -> tuple[int, int]:
        """Delete one chunk of entries routed before ``before``; return (found, deleted)."""
        inbox = self._collection(INBOX)
        # The date bounds the index scan; the microseconds decide.
        old = {"routed_at": {"$lte": before}, "routed_us": {"$lt": to_micros(before)}}
        cursor = inbox.find(old, {"_id": 1}, session=session)
        ids = [document["_id"] async for document in cursor.limit(_TRIM_CHUNK)]
        if not ids:
            return 0, 0
        result = await inbox.delete_many({"_id": {"$in": ids}}, session=session)
        return len(ids), result.deleted_count

    async def _trim_bodies(
        self, session: AsyncClientSession, *, before: datetime, after: str
    ) -> str | None:
        """Delete unreferenced bodies stored before ``before`` among one chunk of ids.

        Scans ids above ``after``; returns the last id scanned, or None when done.
        """
        bodies = self._collection(NOTIFICATIONS)
        old = {"stored_at": {"$lt": before}}
        cursor = bodies.find({**old, "_id": {"$gt": after}}, {"_id": 1}, session=session)
        ids = [d["_id"] async for d in cursor.sort("_id", 1).limit(_TRIM_CHUNK)]
        if not ids:
            return None
        # Not ``distinct``: a transaction may not run it on a sharded collection.
        used = await self._collection(INBOX).aggregate(
            [
                {"$match": {"notification_id": {"$in": ids}}},
                {"$group": {"_id": "$notification_id"}},
            ],
            session=session,
        )
        unused = sorted(set(ids) - {document["_id"] async for document in used})
        if unused:
            await bodies.delete_many({**old, "_id": {"$in": unused}}, session=session)
        return ids[-1] if len(ids) == _TRIM_CHUNK else None


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


if TYPE_CHECKING:
    _CONFORMS: type[OutboxStore] = MongoStore
