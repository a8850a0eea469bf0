"""Retention on MongoDB: deleting old inbox entries, old changes, then unneeded bodies.

Each works in chunks, each chunk one transaction, so that no transaction grows with the
backlog it cleans up; a chunk of entries appends its trim changes and moves the counts in
its own transaction. The store runs them through its ``with_transaction`` helper.
"""

from collections import defaultdict
from datetime import datetime
from typing import Final

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from foundation.constants import CHANGES, INBOX, NOTIFICATIONS
from outbox.state_rules import plan_trim
from outbox.stores.mongo.appending import read_users, write_changes
from outbox.stores.mongo.documents import Document
from outbox.stream import ItemState, StreamChange
from outbox.timestamps import to_micros

TRIM_CHUNK: Final = 1000


async def trim_entries(
    database: AsyncDatabase[Document],
    session: AsyncClientSession,
    *,
    before: datetime,
    now: datetime,
) -> tuple[int, int, list[StreamChange]]:
    """Delete one chunk of entries routed before ``before``, with their trim changes and the
    counts; return (found, deleted, changes)."""
    inbox = database[INBOX]
    # The date bounds the index scan; the microseconds decide.
    old = {"routed_at": {"$lte": before}, "routed_us": {"$lt": to_micros(before)}}
    fields = {"user_id": 1, "seq": 1, "read": 1, "archived": 1, "retracted": 1}
    found = await inbox.find(old, fields, session=session).limit(TRIM_CHUNK).to_list()
    if not found:
        return 0, 0, []
    result = await inbox.delete_many({"_id": {"$in": [d["_id"] for d in found]}}, session=session)
    trimmed: defaultdict[str, list[tuple[int, ItemState]]] = defaultdict(list)
    for document in found:
        state = ItemState(
            document.get("read", False),
            document.get("archived", False),
            document.get("retracted", False),
        )
        trimmed[document["user_id"]].append((document["seq"], state))
    users = await read_users(database, session, sorted(trimmed))
    changes, after = plan_trim(trimmed, users, now)
    await write_changes(database, session, changes, after, {})
    return len(found), result.deleted_count, changes


async def trim_changes(
    database: AsyncDatabase[Document], session: AsyncClientSession, *, before: datetime
) -> int:
    """Delete one chunk of changes made before ``before``; return how many were found."""
    old = {"at": {"$lte": before}, "at_us": {"$lt": to_micros(before)}}
    found = database[CHANGES].find(old, {"_id": 1}, session=session).limit(TRIM_CHUNK)
    ids = [document["_id"] async for document in found]
    if ids:
        await database[CHANGES].delete_many({"_id": {"$in": ids}}, session=session)
    return len(ids)


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
