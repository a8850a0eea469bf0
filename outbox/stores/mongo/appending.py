"""The routing transaction on MongoDB, step by step: fence, bodies, plan, entries.

:meth:`outbox.stores.mongo.store.MongoStore.append_to_inbox` runs these in order inside one
transaction; the decisions themselves are the pure ones of :mod:`outbox.sequencing`.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from foundation.constants import COUNTERS, INBOX, LEASES, NOTIFICATIONS, ROUTER_LEASE
from foundation.errors import LeaseLost
from outbox.records import InboxEntry, Notification, Route
from outbox.sequencing import batch_bodies, plan_entries
from outbox.stores.mongo.documents import (
    Document,
    body_document,
    entry_document,
    notification_from_document,
)
from outbox.timestamps import to_micros


async def fence(
    database: AsyncDatabase[Document], session: AsyncClientSession, owner: str, now: datetime
) -> None:
    """Raise ``LeaseLost`` unless ``owner`` holds the lease.

    The write (not only a read) makes a concurrent takeover of the lease conflict with
    this transaction, so one of the two aborts.
    """
    result = await database[LEASES].update_one(
        {"_id": ROUTER_LEASE, "owner": owner, "until_us": {"$gt": to_micros(now)}},
        {"$inc": {"fence": 1}},
        session=session,
    )
    if result.matched_count == 0:
        raise LeaseLost(f"routing lease not held by {owner!r}")


async def store_bodies(
    database: AsyncDatabase[Document],
    session: AsyncClientSession,
    routes: Sequence[Route],
    now: datetime,
) -> dict[str, Notification]:
    """Insert the bodies not stored yet and move ``stored_at`` of the others to ``now``.

    Returns the batch's notifications by id, as stored: a body already stored wins over
    the route's. Plain inserts, not upserts: an update may not store field names that
    start with ``$``, which ``data`` may hold. Touching the bodies already stored makes
    this transaction conflict with a trim deleting one of them, and keeps them out of
    the next trim.
    """
    bodies = database[NOTIFICATIONS]
    wanted = sorted({route.record.notification_id for route in routes})
    found = bodies.find({"_id": {"$in": wanted}}, session=session)
    stored = {
        document["_id"]: notification_from_document(document)
        async for document in found.batch_size(len(wanted) + 1)
    }
    batch, missing = batch_bodies(routes, stored)
    if missing:
        await bodies.insert_many([body_document(body, now) for body in missing], session=session)
    if stored:
        await bodies.update_many(
            {"_id": {"$in": list(stored)}}, {"$max": {"stored_at": now}}, session=session
        )
    return batch


async def plan(
    database: AsyncDatabase[Document],
    session: AsyncClientSession,
    routes: Sequence[Route],
    bodies: Mapping[str, Notification],
    now: datetime,
) -> list[InboxEntry]:
    """Read what the batch's recipients hold and their heads (two finds), then plan."""
    users = sorted({user for route in routes for user in route.recipients})
    if not users:
        return []
    notification_ids = sorted({route.record.notification_id for route in routes})
    pairs = sum(len(route.recipients) for route in routes)
    held_query = {"notification_id": {"$in": notification_ids}, "user_id": {"$in": users}}
    # Batch sizes above the most a find can return keep each find one round trip.
    held_cursor = database[INBOX].find(
        held_query, {"_id": 0, "user_id": 1, "notification_id": 1}, session=session
    )
    held = {
        (document["user_id"], document["notification_id"])
        async for document in held_cursor.batch_size(pairs + 1)
    }
    heads_cursor = database[COUNTERS].find({"_id": {"$in": users}}, session=session)
    heads = {
        document["_id"]: document["head"]
        async for document in heads_cursor.batch_size(len(users) + 1)
    }
    return plan_entries(routes, bodies, held, heads, now)


async def write_entries(
    database: AsyncDatabase[Document], session: AsyncClientSession, entries: list[InboxEntry]
) -> None:
    if not entries:
        return
    await database[INBOX].insert_many([entry_document(entry) for entry in entries], session=session)
    heads = {entry.user_id: entry.seq for entry in entries}
    await database[COUNTERS].bulk_write(
        [UpdateOne({"_id": u}, {"$set": {"head": h}}, upsert=True) for u, h in heads.items()],
        session=session,
    )
