"""Applying the MongoDB schema history (``migrations.mongo``) to a database.

A version's record (``_id`` = version, ``name``, ``applied_at``) is written after its steps
succeed, so every step is safe to run again after a crash between the two.
"""

from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, DuplicateKeyError, OperationFailure

from foundation.constants import MIGRATIONS
from migrations.mongo import MONGO_MIGRATIONS
from migrations.mongo.steps import (
    Aggregate,
    CreateCollections,
    CreateIndexes,
    DeleteMany,
    DropIndex,
    Index,
    MongoMigration,
    Step,
    UpdateMany,
)
from outbox.stores.mongo.documents import Document

type Database = AsyncDatabase[Document]

_INDEX_NOT_FOUND = 27


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


def _index_model(index: Index) -> IndexModel:
    options: dict[str, Any] = {"name": index.name, "unique": index.unique}
    if index.partial is not None:
        options["partialFilterExpression"] = dict(index.partial)
    return IndexModel(list(index.keys), **options)


async def _drop_index(database: Database, collection: str, name: str) -> None:
    try:
        await database[collection].drop_index(name)
    except OperationFailure as error:
        if error.code != _INDEX_NOT_FOUND and "not found" not in str(error).lower():
            raise


async def _carry_out(database: Database, step: Step) -> None:
    match step:
        case CreateCollections(names):
            await _create_collections(database, names)
        case CreateIndexes(collection, indexes):
            await database[collection].create_indexes([_index_model(i) for i in indexes])
        case DeleteMany(collection, query):
            await database[collection].delete_many(dict(query))
        case DropIndex(collection, name):
            await _drop_index(database, collection, name)
        case UpdateMany(collection, query, pipeline):
            await database[collection].update_many(dict(query), [dict(s) for s in pipeline])
        case Aggregate(collection, pipeline):
            cursor = await database[collection].aggregate([dict(s) for s in pipeline])
            await cursor.to_list()


async def apply_mongo(database: Database) -> list[int]:
    """Apply the missing migrations in version order.

    Returns the versions applied by this call ([] when the schema was current). Raises the
    driver's errors.
    """
    done = {document["_id"] async for document in database[MIGRATIONS].find({}, {"_id": 1})}
    applied: list[int] = []
    for migration in MONGO_MIGRATIONS:
        if migration.version in done:
            continue
        await carry_out(database, migration)
        if await record_version(database, migration):
            applied.append(migration.version)
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
