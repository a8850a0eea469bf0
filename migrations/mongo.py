"""Forward-only, versioned MongoDB migrations, each recorded in ``tidings_migrations``.

A migration runs once per database; its record (``_id`` = version, ``name``, ``applied_at``)
is written after it succeeds, so a migration must be safe to run again after a crash between
the two (creating an index that exists with the same options is a no-op). Never edit a
released migration: add the next version.

The inbox TTL index (``inbox_routed_ttl`` on ``routed_at``) is configuration rather than
schema: its ``expireAfterSeconds`` is the retention. :func:`apply_mongo` creates it when
missing and, when it exists with another value, changes it in place with ``collMod`` (no index
rebuild), on every run, whether or not a migration was due.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, DuplicateKeyError

from tidings.constants import (
    ACKS,
    COUNTERS,
    INBOX,
    LEASES,
    MIGRATIONS,
    NOTIFICATIONS,
    OUTBOX,
)

type Database = AsyncDatabase[dict[str, Any]]
# (keys in order, unique, expireAfterSeconds or None)
type IndexSpec = tuple[tuple[tuple[str, int], ...], bool, int | None]

DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600
INBOX_TTL_INDEX = "inbox_routed_ttl"
_MAX_TTL_SECONDS = 2**31 - 1


@dataclass(frozen=True, slots=True)
class MongoMigration:
    """One schema version: ``apply`` brings a database from ``version - 1`` to ``version``."""

    version: int
    name: str
    apply: Callable[[Database], Awaitable[None]]


async def _create_collections(database: Database, names: tuple[str, ...]) -> None:
    # Explicit creation: a transaction may not create a collection on older servers or on
    # sharded clusters, and the store writes every collection inside transactions.
    existing = set(await database.list_collection_names())
    for name in names:
        if name in existing:
            continue
        try:
            await database.create_collection(name)
        except CollectionInvalid:
            pass  # another migrator created it first


async def _initial_schema(database: Database) -> None:
    await _create_collections(
        database, (OUTBOX, NOTIFICATIONS, INBOX, COUNTERS, ACKS, LEASES, MIGRATIONS)
    )
    # Pending records in claim order; also counts pending/dead and finds the oldest one.
    await database[OUTBOX].create_indexes(
        [IndexModel([("status", 1), ("created_us", 1), ("_id", 1)], name="outbox_claim")]
    )
    # Trim finds old bodies by the last time a route used them.
    await database[NOTIFICATIONS].create_indexes(
        [IndexModel([("stored_at", 1)], name="notifications_stored_at")]
    )
    await database[INBOX].create_indexes(
        [
            # G3: one entry per (user, seq); replay reads ranges of it.
            IndexModel([("user_id", 1), ("seq", 1)], name="inbox_user_seq", unique=True),
            # (user, notification id) is unique; notification id first so that trim and the
            # router look entries up by notification.
            IndexModel(
                [("notification_id", 1), ("user_id", 1)],
                name="inbox_notification_user",
                unique=True,
            ),
        ]
    )


async def _routed_leave_the_outbox(database: Database) -> None:
    # Version 1 kept routed records with status "routed" for good; from version 2 routing
    # deletes them, so the records version 1 left routed go too. Safe to run again.
    await database[OUTBOX].delete_many({"status": "routed"})


MONGO_MIGRATIONS: tuple[MongoMigration, ...] = (
    MongoMigration(1, "initial collections and indexes", _initial_schema),
    MongoMigration(2, "routed records leave the outbox", _routed_leave_the_outbox),
)
LATEST_MONGO_VERSION = MONGO_MIGRATIONS[-1].version

# The indexes every migrated database holds, ``_id_`` left out; the TTL shows the default
# retention. Acks (``_id`` = user and device), counters (``_id`` = user), leases and
# migrations need no index besides ``_id``.
DECLARED_MONGO_INDEXES: Mapping[str, Mapping[str, IndexSpec]] = {
    OUTBOX: {"outbox_claim": ((("status", 1), ("created_us", 1), ("_id", 1)), False, None)},
    NOTIFICATIONS: {"notifications_stored_at": ((("stored_at", 1),), False, None)},
    INBOX: {
        "inbox_user_seq": ((("user_id", 1), ("seq", 1)), True, None),
        "inbox_notification_user": ((("notification_id", 1), ("user_id", 1)), True, None),
        INBOX_TTL_INDEX: ((("routed_at", 1),), False, DEFAULT_RETENTION_SECONDS),
    },
    COUNTERS: {},
    ACKS: {},
    LEASES: {},
    MIGRATIONS: {},
}


async def mongo_schema_version(database: Database) -> int:
    """The highest migration version recorded in ``database``, 0 when none."""
    latest = await database[MIGRATIONS].find_one({}, {"_id": 1}, sort=[("_id", -1)])
    return int(latest["_id"]) if latest is not None else 0


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
        await migration.apply(database)
        if await _record(database, migration):
            applied.append(migration.version)
    await ensure_inbox_ttl(database, retention_seconds)
    return applied


async def _record(database: Database, migration: MongoMigration) -> bool:
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
