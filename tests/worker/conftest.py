"""Fixtures of the worker's process tests: a private Redis and a store both sides reach."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from foundation.settings import load_settings
from outbox.stores import migrate, open_store
from tests.services import PrivateRedis, private_redis
from tests.worker.fleet import Backend, store_env


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture(params=["sqlite", "mongo"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, server: PrivateRedis
) -> AsyncIterator[Backend]:
    env = {
        **store_env(request, tmp_path),
        "TIDINGS_REDIS_URL": server.url,
        "TIDINGS_RESOLVERS": "tests.worker:resolvers",
        "TIDINGS_LEASE_SECONDS": "1",
        "TIDINGS_SWEEP_INTERVAL_SECONDS": "0.05",
        "TIDINGS_BATCH_SIZE": "20",
    }
    settings = load_settings(**{k.removeprefix("TIDINGS_").lower(): v for k, v in env.items()})
    await migrate(settings)
    store = await open_store(settings)
    yield Backend(env, settings, store, tmp_path)
    if settings.uses_mongodb:
        await store.client.drop_database(settings.mongodb_database)  # type: ignore[attr-defined]
    await store.close()
