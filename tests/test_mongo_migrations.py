"""MongoDB: migrations against the declared schema, the deployment check, and the emit hook."""

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import InvalidOperation

from foundation.constants import COUNTERS, INBOX, MIGRATIONS, OUTBOX
from foundation.errors import ConfigurationError, NotInTransaction, StoreUnavailable
from migrations.mongo import (
    DECLARED_MONGO_INDEXES,
    INBOX_TTL_INDEX,
    LATEST_MONGO_VERSION,
    MONGO_MIGRATIONS,
)
from outbox.records import Group, OutboxRecord, Route, Users
from outbox.stores.mongo import connection as mongo_connection
from outbox.stores.mongo import store as mongo_store_module
from outbox.stores.mongo.connection import transactions_supported
from outbox.stores.mongo.documents import outbox_document, record_from_document
from outbox.stores.mongo.host import insert_outbox_records
from outbox.stores.mongo.schema import (
    apply_mongo,
    carry_out,
    mongo_schema_version,
    record_version,
)
from outbox.stores.mongo.store import MongoStore
from tests.mongo_server import MongoEndpoint

Session = Any
Write = Callable[[Session], Awaitable[None]]


class _Rollback(Exception):
    """Raised inside a transaction to make the driver abort it."""


@pytest.fixture
async def database(mongo: MongoEndpoint, mongo_database: str) -> AsyncIterator[AsyncDatabase]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo.url, tz_aware=True, tzinfo=UTC
    )
    yield client[mongo_database]
    await client.drop_database(mongo_database)
    await client.close()


def _normalized(information: dict[str, Any]) -> dict[str, Any]:
    """``index_information()`` as (keys, unique, expireAfterSeconds, partial filter), without
    ``_id_``."""
    return {
        name: (
            tuple((field, int(direction)) for field, direction in spec["key"]),
            bool(spec.get("unique", False)),
            spec.get("expireAfterSeconds"),
            _plain(spec.get("partialFilterExpression")),
        )
        for name, spec in information.items()
        if name != "_id_"
    }


def _plain(value: Any) -> Any:
    """A filter as plain dicts (the driver returns SON)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


async def _indexes(database: AsyncDatabase) -> dict[str, Any]:
    return {
        name: _normalized(await database[name].index_information())
        for name in DECLARED_MONGO_INDEXES
    }


async def _migration_records(database: AsyncDatabase) -> list[dict[str, Any]]:
    return await database[MIGRATIONS].find().sort("_id", 1).to_list()


def test_versions_count_up_from_one() -> None:
    versions = [migration.version for migration in MONGO_MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert versions[-1] == LATEST_MONGO_VERSION


@pytest.mark.mongo
async def test_all_migrations_on_an_empty_database_give_the_declared_indexes(
    database: AsyncDatabase,
) -> None:
    assert await apply_mongo(database) == [m.version for m in MONGO_MIGRATIONS]

    assert set(DECLARED_MONGO_INDEXES) <= set(await database.list_collection_names())
    assert await _indexes(database) == DECLARED_MONGO_INDEXES


@pytest.mark.mongo
async def test_applying_again_changes_nothing(database: AsyncDatabase) -> None:
    await apply_mongo(database)
    indexes, records = await _indexes(database), await _migration_records(database)

    assert await apply_mongo(database) == []

    assert await _indexes(database) == indexes
    assert await _migration_records(database) == records


@pytest.mark.mongo
async def test_each_version_is_recorded(database: AsyncDatabase) -> None:
    assert await mongo_schema_version(database) == 0

    await apply_mongo(database)

    assert await mongo_schema_version(database) == LATEST_MONGO_VERSION
    records = await _migration_records(database)
    assert [(r["_id"], r["name"]) for r in records] == [
        (m.version, m.name) for m in MONGO_MIGRATIONS
    ]
    assert all(isinstance(r["applied_at"], datetime) for r in records)


@pytest.mark.mongo
async def test_version_2_removes_the_records_version_1_left_routed(
    database: AsyncDatabase,
) -> None:
    first = MONGO_MIGRATIONS[0]
    await carry_out(database, first)
    await record_version(database, first)
    pending, routed, dead = _records(3)
    await database[OUTBOX].insert_many(
        [
            outbox_document(pending),
            {**outbox_document(routed), "status": "routed"},
            {**outbox_document(dead), "status": "dead"},
        ]
    )

    assert await apply_mongo(database) == [2, 3]

    left = await database[OUTBOX].find({}, {"status": 1}).sort("_id", 1).to_list()
    assert left == [{"_id": pending.id, "status": "pending"}, {"_id": dead.id, "status": "dead"}]


@pytest.mark.mongo
async def test_routing_deletes_the_routed_records_from_the_outbox(
    mongo: MongoEndpoint, migrated: AsyncDatabase
) -> None:
    routed, waiting = _records()
    store = await MongoStore.connect(mongo.url, migrated.name)
    try:
        await store.add_records([routed, waiting])
        now = datetime.now(UTC)
        await store.claim_batch("a", now, 30, 10)

        await store.append_to_inbox("a", now, [Route(routed, ("ann",))])

        assert await migrated[OUTBOX].distinct("_id") == [waiting.id]
    finally:
        await store.close()


async def _at_version_2(database: AsyncDatabase) -> None:
    for migration in MONGO_MIGRATIONS[:2]:
        await carry_out(database, migration)
        await record_version(database, migration)


@pytest.mark.mongo
async def test_version_3_drops_the_inbox_ttl_index(database: AsyncDatabase) -> None:
    await _at_version_2(database)
    # What ``tidings migrate`` set up beside version 2.
    await database[INBOX].create_index(
        [("routed_at", 1)], name=INBOX_TTL_INDEX, expireAfterSeconds=3600
    )

    assert await apply_mongo(database) == [3]

    assert INBOX_TTL_INDEX not in await database[INBOX].index_information()


@pytest.mark.mongo
async def test_version_3_places_earlier_entries_on_the_stream_and_counts_them(
    database: AsyncDatabase,
) -> None:
    await _at_version_2(database)
    now = datetime.now(UTC)
    await database[INBOX].insert_many(
        [
            {"user_id": user, "seq": seq, "notification_id": f"{user}{seq}", "routed_at": now}
            for user, seq in (("ann", 2), ("ann", 3), ("bob", 1))  # ann's first one trimmed
        ]
    )
    await database[COUNTERS].insert_many(
        [{"_id": "ann", "head": 3}, {"_id": "bob", "head": 1}, {"_id": "cy", "head": 4}]
    )

    assert await apply_mongo(database) == [3]

    entries = await database[INBOX].find({}, {"_id": 0, "routed_at": 0}).sort("seq").to_list()
    assert sorted((e["user_id"], e["seq"], e["pos"], e["unread_after"]) for e in entries) == [
        ("ann", 2, 2, 1),
        ("ann", 3, 3, 2),
        ("bob", 1, 1, 1),
    ]
    counters = await database[COUNTERS].find().sort("_id").to_list()
    assert counters == [
        {"_id": "ann", "head": 3, "pos": 3, "unread": 2, "unarchived": 2},
        {"_id": "bob", "head": 1, "pos": 1, "unread": 1, "unarchived": 1},
        {"_id": "cy", "head": 4, "pos": 4, "unread": 0, "unarchived": 0},
    ]


@pytest.mark.mongo
async def test_check_schema_refuses_a_database_behind_the_code(
    mongo: MongoEndpoint, mongo_database: str
) -> None:
    store = await MongoStore.connect(mongo.url, mongo_database)
    try:
        with pytest.raises(ConfigurationError, match="tidings migrate"):
            await store.check_schema()
        await apply_mongo(store.database)
        await store.check_schema()
    finally:
        await store.client.drop_database(mongo_database)
        await store.close()


@pytest.mark.parametrize(
    ("hello", "supported"),
    [
        pytest.param(
            {"isWritablePrimary": True, "setName": "rs0", "hosts": ["a:27017"], "ok": 1.0},
            True,
            id="replica-set-primary",
        ),
        pytest.param(
            {"isWritablePrimary": False, "secondary": True, "setName": "rs0", "ok": 1.0},
            True,
            id="replica-set-secondary",
        ),
        pytest.param({"isWritablePrimary": True, "msg": "isdbgrid", "ok": 1.0}, True, id="mongos"),
        pytest.param(
            {"isWritablePrimary": True, "maxWireVersion": 21, "ok": 1.0}, False, id="standalone"
        ),
    ],
)
def test_transactions_supported_reads_hello(hello: dict[str, Any], supported: bool) -> None:
    assert transactions_supported(hello) is supported


@pytest.mark.mongo
async def test_connect_refuses_a_deployment_without_transactions(
    mongo: MongoEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[AsyncMongoClient[dict[str, Any]]] = []
    new_client = mongo_connection.new_client

    def recording_client(url: str) -> AsyncMongoClient[dict[str, Any]]:
        opened.append(new_client(url))
        return opened[-1]

    async def no_transactions(client: object, database: str) -> bool:
        return False

    monkeypatch.setattr(mongo_store_module, "new_client", recording_client)
    monkeypatch.setattr(mongo_connection, "transactions_supported", lambda hello: False)
    monkeypatch.setattr(mongo_connection, "_transaction_probe", no_transactions)

    with pytest.raises(ConfigurationError, match="replica set") as caught:
        await MongoStore.connect(mongo.url, "tidings_unused")

    assert mongo.url not in str(caught.value)
    with pytest.raises(InvalidOperation, match="after close"):
        await opened[0].admin.command("ping")


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A local port bound but not listening, so connecting to it is refused at once."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


async def test_an_unreachable_server_is_unavailable_and_the_password_stays_out(
    refused_port: int,
) -> None:
    url = f"mongodb://tidings:hunter2secret@127.0.0.1:{refused_port}/?serverSelectionTimeoutMS=200"

    with pytest.raises(StoreUnavailable) as caught:
        await MongoStore.connect(url, "tidings_unused")

    assert "hunter2secret" not in str(caught.value)


async def test_an_invalid_url_is_a_configuration_error_without_the_password() -> None:
    url = "mongodb://tidings:hunter2secret@127.0.0.1:notaport/"

    with pytest.raises(ConfigurationError) as caught:
        await MongoStore.connect(url, "tidings_unused")

    assert "hunter2secret" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def _records(count: int = 2) -> list[OutboxRecord]:
    created = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    return [
        OutboxRecord(
            id=f"record{index}",
            notification_id=f"note{index}",
            event="family_member_joined",
            data={"member": "ann", "index": index},
            audience=Users(("ann", "bob")) if index else Group("family", "f1"),
            created_at=created,
            dedup_key=f"key{index}",
            origin_session="tab-1",
        )
        for index in range(count)
    ]


class _Driver:
    """Open a client and run a write in a transaction, the way each driver spells it."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.client: Any = AsyncMongoClient(url) if kind == "pymongo" else AsyncIOMotorClient(url)

    async def in_transaction(self, write: Write) -> None:
        if self.kind == "pymongo":
            async with self.client.start_session() as session:
                async with await session.start_transaction():
                    await write(session)
        else:
            async with await self.client.start_session() as session:
                async with session.start_transaction():
                    await write(session)

    async def outside_transaction(self, write: Write) -> None:
        if self.kind == "pymongo":
            async with self.client.start_session() as session:
                await write(session)
        else:
            async with await self.client.start_session() as session:
                await write(session)

    async def close(self) -> None:
        if self.kind == "pymongo":
            await self.client.close()
        else:
            self.client.close()


@pytest.fixture(params=["pymongo", "motor"])
async def driver(request: pytest.FixtureRequest, mongo: MongoEndpoint) -> AsyncIterator[_Driver]:
    opened = _Driver(request.param, mongo.url)
    yield opened
    await opened.close()


@pytest.fixture
async def migrated(database: AsyncDatabase) -> AsyncDatabase:
    await apply_mongo(database)
    return database


@pytest.mark.mongo
@pytest.mark.parametrize("count", [1, 2])
async def test_the_hook_writes_inside_a_committed_transaction(
    driver: _Driver, migrated: AsyncDatabase, count: int
) -> None:
    records = _records()[:count]

    await driver.in_transaction(lambda s: insert_outbox_records(s, migrated.name, records))

    stored = await migrated[OUTBOX].find().sort("_id", 1).to_list()
    assert [record_from_document(document) for document in stored] == records
    assert all(document["status"] == "pending" for document in stored)


@pytest.mark.mongo
async def test_the_hook_leaves_nothing_after_an_aborted_transaction(
    driver: _Driver, migrated: AsyncDatabase
) -> None:
    async def write_then_fail(session: Session) -> None:
        await insert_outbox_records(session, migrated.name, _records())
        raise _Rollback

    with pytest.raises(_Rollback):
        await driver.in_transaction(write_then_fail)

    assert await migrated[OUTBOX].count_documents({}) == 0


@pytest.mark.mongo
async def test_the_hook_refuses_a_session_outside_a_transaction(
    driver: _Driver, migrated: AsyncDatabase
) -> None:
    with pytest.raises(NotInTransaction):
        await driver.outside_transaction(
            lambda s: insert_outbox_records(s, migrated.name, _records())
        )

    assert await migrated[OUTBOX].count_documents({}) == 0
