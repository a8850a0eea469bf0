"""Fixtures for the example application's tests: its repository on each store, seeded with
the demo data, and what its operations wrote to the outbox."""

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from examples.second_brain.demo_data import seed_demo
from examples.second_brain.ports import Repository
from foundation.constants import OUTBOX
from outbox.records import Audience, audience_from_dict
from outbox.stores.sqlite.schema import apply_sqlite
from tests.mongo_server import MongoEndpoint
from tidings import Settings, Tidings


@dataclass(frozen=True)
class Emitted:
    """One outbox record as an operation wrote it."""

    event: str
    data: dict[str, Any]
    audience: Audience
    origin_session: str | None
    notification_id: str = field(default="", compare=False)


def outbox_sqlite(path: Path) -> list[Emitted]:
    """Every outbox record of the SQLite file, in commit order."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            f"SELECT event, data, audience, origin_session, notification_id FROM {OUTBOX} "
            "ORDER BY position"
        ).fetchall()
    return [
        Emitted(event, json.loads(data), audience_from_dict(json.loads(audience)), origin, id_)
        for event, data, audience, origin, id_ in rows
    ]


async def outbox_mongo(url: str, database: str) -> list[Emitted]:
    """Every outbox record of the MongoDB database, in emit order."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(url)
    try:
        found = client[database][OUTBOX].find({}).sort([("created_us", 1), ("_id", 1)])
        return [
            Emitted(
                doc["event"],
                doc["data"],
                audience_from_dict(doc["audience"]),
                doc.get("origin_session"),
                doc["notification_id"],
            )
            async for doc in found
        ]
    finally:
        await client.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path, redis_url: str) -> Settings:
    """The embedded store in ``tmp_path``, migrated; wake-ups go to the test Redis."""
    settings = Settings(data_dir=tmp_path, redis_url=redis_url)
    apply_sqlite(settings.sqlite_path)
    return settings


@pytest.fixture
async def sqlite_notifications(sqlite_settings: Settings) -> AsyncIterator[Tidings]:
    """tidings on the SQLite file, not mounted (its wake-ups open a Redis client)."""
    notifications = Tidings(sqlite_settings)
    yield notifications
    await notifications.aclose()


@pytest.fixture
async def sqlite_repo(sqlite_notifications: Tidings) -> AsyncIterator[Repository]:
    """The SQLite repository, seeded with the demo data."""
    from examples.second_brain.sqlite_repo import SqliteRepository

    repo = SqliteRepository.open(sqlite_notifications)
    await seed_demo(repo)
    yield repo
    await repo.close()


@pytest.fixture
async def mongo_repo(
    mongo: MongoEndpoint, mongo_database: str, redis_url: str
) -> AsyncIterator[Any]:
    """The MongoDB repository (its own app database, the outbox in ``mongo_database``),
    seeded with the demo data; both databases are dropped afterwards."""
    from pymongo import AsyncMongoClient

    from examples.second_brain.mongo_repo import MongoRepository

    app_database = f"second_brain_test_{uuid.uuid4().hex[:12]}"
    settings = Settings(store_url=mongo.url, mongodb_database=mongo_database, redis_url=redis_url)
    notifications = Tidings(settings)
    repo = MongoRepository.open(notifications, app_database=app_database)
    await seed_demo(repo)
    yield repo
    await repo.close()
    await notifications.aclose()
    cleanup: AsyncMongoClient[Any] = AsyncMongoClient(mongo.url)
    try:
        await cleanup.drop_database(app_database)
        await cleanup.drop_database(mongo_database)
    finally:
        await cleanup.close()
