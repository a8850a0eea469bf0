"""Applying the MongoDB schema history (``migrations.mongo``) to a database.

A version's record (``_id`` = version, ``name``, ``applied_at``) is written after its steps
succeed, so every step is safe to run again after a crash between the two. The inbox TTL
index's ``expireAfterSeconds`` is the retention: :func:`apply_mongo` creates the index when
missing and, when it exists with another value, changes it in place with ``collMod`` (no index
rebuild), on every run, whether or not a migration was due.
"""

from datetime import UTC, datetime
from typing import Final

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, DuplicateKeyError

from foundation.constants import INBOX, MIGRATIONS
from migrations.mongo import DEFAULT_RETENTION_SECONDS, INBOX_TTL_INDEX, MONGO_MIGRATIONS
from migrations.mongo.steps import (
    CreateCollections,
    CreateIndexes,
    DeleteMany,
    MongoMigration,
    Step,
)
from outbox.stores.mongo.documents import Document

type Database = AsyncDatabase[Document]

_MAX_TTL_SECONDS: Final = 2**31 - 1


async def mongo_schema_version(database: Database) -> int:
    """The highest migration version recorded in ``database``, 0 when none."""
    latest = await database[MIGRATIONS].find_one({}, {"_id": 1}, sort=[("_id", -1)])
    return int(latest["_id"]) if latest is not None else 0


async def _create_collections(database: Database, names: tuple[str, ...]) -> None:
    existing = set(await database.list_collection_names())
    for name in names:
        if name in existing:
            continue
        try:
            await database.create_collection(name)
        except CollectionInvalid:
            pass  # another migrator created it first


async def _carry_out(database: Database, step: Step) -> None:
    match step:
        case CreateCollections(names):
            await _create_collections(database, names)
        case CreateIndexes(collection, indexes):
            await database[collection].create_indexes(
                [
                    IndexModel(list(index.keys), name=index.name, unique=index.unique)
                    for index in indexes
                ]
            )
        case DeleteMany(collection, query):
            await database[collection].delete_many(dict(query))


async def apply_mongo(
    database: Database, *, retention_seconds: int = DEFAULT_RETENTION_SECONDS
) -> list[int]:
    """Apply the missing migrations in version order, then set the inbox TTL to the retention.

    Returns the versions applied by this call ([] when the schema was current). Raises
    ``ValueError`` for a retention MongoDB cannot hold and the driver's errors otherwise.
    """
    if not 1 <= retention_seconds <= _MAX_TTL_SECONDS:
        raise ValueError(f"retention_seconds must be 1..{_MAX_TTL_SECONDS}")
    done = {document["_id"] async for document in database[MIGRATIONS].find({}, {"_id": 1})}
    applied: list[int] = []
    for migration in MONGO_MIGRATIONS:
        if migration.version in done:
            continue
        await carry_out(database, migration)
        if await record_version(database, migration):
            applied.append(migration.version)
    await ensure_inbox_ttl(database, retention_seconds)
    return applied


async def carry_out(database: Database, migration: MongoMigration) -> None:
    """Carry out the steps of ``migration``, in order, without recording it."""
    for step in migration.steps:
        await _carry_out(database, step)


async def record_version(database: Database, migration: MongoMigration) -> bool:
    """Record ``migration``; False when a concurrent migrator recorded it first."""
    document = {
        "_id": migration.version,
        "name": migration.name,
        "applied_at": datetime.now(UTC),
    }
    try:
        await database[MIGRATIONS].insert_one(document)
    except DuplicateKeyError:
        return False
    return True


async def ensure_inbox_ttl(database: Database, retention_seconds: int) -> None:
    """Create the inbox TTL index, or change its ``expireAfterSeconds`` with ``collMod``."""
    indexes = await database[INBOX].index_information()
    current = indexes.get(INBOX_TTL_INDEX)
    if current is None:
        await database[INBOX].create_index(
            [("routed_at", 1)], name=INBOX_TTL_INDEX, expireAfterSeconds=retention_seconds
        )
    elif current.get("expireAfterSeconds") != retention_seconds:
        await database.command(
            "collMod",
            INBOX,
            index={"name": INBOX_TTL_INDEX, "expireAfterSeconds": retention_seconds},
        )
