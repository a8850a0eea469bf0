"""Shared fixtures: real Redis, a MongoDB endpoint, and a migrated store of each kind."""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.mongo_server import MongoEndpoint, mongo_endpoint

STORE_KINDS = ("sqlite", "mongo")


@pytest.fixture(scope="session")
def mongo() -> Iterator[MongoEndpoint]:
    """A MongoDB wire endpoint for the whole run (see tests/mongo_server.py)."""
    with mongo_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
def mongo_database() -> str:
    """A database name of this test's own, so tests never see each other's data."""
    return f"tidings_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis: ``TIDINGS_TEST_REDIS_URL`` or the local server, database 15."""
    return os.environ.get("TIDINGS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "tidings.sqlite3"


@pytest.fixture(params=STORE_KINDS)
async def store(
    request: pytest.FixtureRequest, sqlite_path: Path, mongo_database: str
) -> AsyncIterator[object]:
    """A migrated, empty store of each kind; the contract suite runs on both."""
    if request.param == "sqlite":
        from migrations.sqlite import apply_sqlite
        from outbox.sqlite_store import SqliteStore

        apply_sqlite(sqlite_path)
        sqlite_store = await SqliteStore.open(sqlite_path)
        yield sqlite_store
        await sqlite_store.close()
    else:
        endpoint: MongoEndpoint = request.getfixturevalue("mongo")
        from migrations.mongo import apply_mongo
        from outbox.mongo_store import MongoStore

        mongo_store = await MongoStore.connect(endpoint.url, mongo_database)
        await apply_mongo(mongo_store.database)
        yield mongo_store
        await mongo_store.client.drop_database(mongo_database)
        await mongo_store.close()
