"""Retention on MongoDB: deleting old inbox entries, then the bodies no entry needs.

Both work in chunks, each chunk one transaction, so that no transaction grows with the backlog
it cleans up. The store runs them through its ``with_transaction`` helper.
"""

from datetime import datetime
from typing import Final

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from foundation.constants import INBOX, NOTIFICATIONS
from outbox.stores.mongo.documents import Document
from outbox.timestamps import to_micros

TRIM_CHUNK: Final = 1000


async def trim_entries(
    database: AsyncDatabase[Document], session: AsyncClientSession, *, before: datetime
) -> tuple[int, int]:
    """Delete one chunk of entries routed before ``before``; return (found, deleted)."""
    inbox = database[INBOX]
    # The date bounds the index scan; the microseconds decide.
    old = {"routed_at": {"$lte": before}, "routed_us": {"$lt": to_micros(before)}}
    cursor = inbox.find(old, {"_id": 1}, session=session)
    ids = [document["_id"] async for document in cursor.limit(TRIM_CHUNK)]
    if not ids:
        return 0, 0
    result = await inbox.delete_many({"_id": {"$in": ids}}, session=session)
    return len(ids), result.deleted_count


async def trim_bodies(
    database: AsyncDatabase[Document],
    session: AsyncClientSession,
    *,
    before: datetime,
    after: str,
) -> str | None:
    """Delete unreferenced bodies stored before ``before`` among one chunk of ids.

    Scans ids above ``after``; returns the last id scanned, or None when done.
    """
    bodies = database[NOTIFICATIONS]
    old = {"stored_at": {"$lt": before}}
    cursor = bodies.find({**old, "_id": {"$gt": after}}, {"_id": 1}, session=session)
    ids = [d["_id"] async for d in cursor.sort("_id", 1).limit(TRIM_CHUNK)]
    if not ids:
        return None
    # Not ``distinct``: a transaction may not run it on a sharded collection.
    used = await database[INBOX].aggregate(
        [
            {"$match": {"notification_id": {"$in": ids}}},
            {"$group": {"_id": "$notification_id"}},
        ],
        session=session,
    )
    unused = sorted(set(ids) - {document["_id"] async for document in used})
    if unused:
        await bodies.delete_many({**old, "_id": {"$in": unused}}, session=session)
    return ids[-1] if len(ids) == TRIM_CHUNK else None
