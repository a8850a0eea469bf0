"""Shared fixtures: real Redis, a MongoDB endpoint, and a migrated store of each kind."""

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from foundation.settings import Settings, load_settings
from outbox.port import OutboxStore
from outbox.stores import adapter_for
from tests.mongo_server import MongoEndpoint, mongo_endpoint


@dataclass(frozen=True)
class StoreUnderTest:
    """How the contract suite gets a fresh store of one kind: its settings for one test, and
    what to remove once the test is done."""

    settings: Callable[[pytest.FixtureRequest], Settings]
    remove: Callable[[Any], Awaitable[None]] | None = None


def _sqlite_settings(request: pytest.FixtureRequest) -> Settings:
    path: Path = request.getfixturevalue("sqlite_path")
    return load_settings(store_url=f"sqlite:///{path}")


def _mongo_settings(request: pytest.FixtureRequest) -> Settings:
    endpoint: MongoEndpoint = request.getfixturevalue("mongo")
    database: str = request.getfixturevalue("mongo_database")
    return load_settings(store_url=endpoint.url, mongodb_database=database)


async def _drop_mongo_database(store: Any) -> None:
    await store.client.drop_database(store.database.name)


# Every store the contract suite runs on: adding a store adds one entry here.
STORES: dict[str, StoreUnderTest] = {
    "sqlite": StoreUnderTest(_sqlite_settings),
    "mongo": StoreUnderTest(_mongo_settings, _drop_mongo_database),
}
STORE_KINDS = tuple(STORES)


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
async def store(request: pytest.FixtureRequest) -> AsyncIterator[OutboxStore]:
    """A migrated, empty store of each kind, opened through the store registry as
    ``tidings migrate`` and the worker open it; the contract suite runs on every kind."""
    kind = STORES[request.param]
    settings = kind.settings(request)
    adapter = adapter_for(settings)
    await adapter.migrate(settings)
    opened: OutboxStore = await adapter.open(settings)
    yield opened
    if kind.remove is not None:
        await kind.remove(opened)
    await opened.close()
