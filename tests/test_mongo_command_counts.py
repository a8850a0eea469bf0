"""On MongoDB, what a routed batch and an emit cost in commands, counted on the wire.

A routed batch sends the same commands whatever its size (no per-record round trip), and an
emit adds exactly one insert to the host's transaction. Counted with PyMongo's command
monitoring, per client, against the wire endpoint of tests/mongo_server.py.
"""

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from api_hooks import Emitter, Users, build_record, run_in_transaction
from foundation.settings import load_settings
from outbox.records import OutboxRecord
from outbox.resolvers import Resolvers
from outbox.routing import RoutingPolicy, route_once
from outbox.stores.mongo.schema import apply_mongo
from outbox.stores.mongo.store import MongoStore
from tests.mongo_server import CommandCounter, MongoEndpoint

pytestmark = pytest.mark.mongo


def counted_client(url: str) -> tuple[AsyncMongoClient[Any], CommandCounter]:
    counter = CommandCounter()
    return AsyncMongoClient(url, tz_aware=True, event_listeners=[counter]), counter


def emitted(users: tuple[str, ...]) -> OutboxRecord:
    return build_record(event="counted", data={"n": 1}, to=Users(users), now=datetime.now(UTC))


async def test_a_routed_batch_sends_the_same_commands_whatever_its_size(
    mongo: MongoEndpoint, mongo_database: str
) -> None:
    client, counter = counted_client(mongo.url)
    store = MongoStore(client, mongo_database)
    try:
        await apply_mongo(store.database)
        per_batch: dict[int, Counter[str]] = {}
        for size in (1, 10, 100):
            await store.add_records([emitted(("alice", "bob")) for _ in range(size)])
            counter.commands.clear()
            batch = await route_once(
                store,
                Resolvers(),
                owner="counted",
                now=datetime.now(UTC),
                policy=RoutingPolicy(
                    batch_size=size,
                    lease_seconds=10,
                    max_attempts=3,
                    retry_base_seconds=1,
                    retry_max_seconds=10,
                ),
            )
            assert batch.routed == size
            per_batch[size] = Counter(counter.commands)
        assert per_batch[1] == per_batch[10] == per_batch[100], per_batch
        assert sum(per_batch[1].values()) <= 12
    finally:
        await client.drop_database(mongo_database)
        await client.close()


async def test_an_emit_is_one_insert_in_the_host_transaction(
    mongo: MongoEndpoint, mongo_database: str
) -> None:
    client, counter = counted_client(mongo.url)
    emitter = Emitter(load_settings(mongodb_database=mongo_database))
    try:
        await apply_mongo(client[mongo_database])

        async def one_emit(session: Any) -> None:
            await emitter.emit(session, "counted", {"n": 1}, to=Users(("alice",)))

        await run_in_transaction(client, one_emit)  # the first opens the connection
        counter.commands.clear()
        await run_in_transaction(client, one_emit)
        assert counter.commands == Counter({"insert": 1, "commitTransaction": 1})
    finally:
        await client.drop_database(mongo_database)
        await client.close()
