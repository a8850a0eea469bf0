"""The routing transaction on MongoDB, step by step: fence, bodies, plan, stream, entries.

:meth:`outbox.stores.mongo.store.MongoStore.append_routes` runs these in order inside one
transaction; the decisions themselves are the pure ones of :mod:`outbox.sequencing` and
:mod:`outbox.state_rules`.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from foundation.constants import (
    CHANGES,
    COUNTERS,
    INBOX,
    LEASES,
    NOTIFICATIONS,
    NOTIFY,
    ROUTER_LEASE,
)
from foundation.errors import LeaseLost
from outbox.records import Everyone, InboxEntry, Notification, Route
from outbox.sequencing import batch_bodies, plan_entries
from outbox.state_rules import Holding, StreamPlan, UserStream, plan_stream
from outbox.stores.mongo.documents import (
    Document,
    body_document,
    change_document,
    entry_document,
    notification_from_document,
)
from outbox.stream import StreamChange
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


def _keys_wanted(routes: Sequence[Route]) -> dict[str, set[str] | None]:
    """Which users' holdings of each collapse key the batch needs (``None``: everyone's)."""
    wanted: dict[str, set[str] | None] = {}
    for route in routes:
        key = route.record.collapse_key
        if key is None:
            continue
        if route.record.kind != NOTIFY and isinstance(route.record.audience, Everyone):
            wanted[key] = None
        elif (users := wanted.setdefault(key, set())) is not None:
            users.update(route.recipients)
    return wanted


async def read_users(
    database: AsyncDatabase[Document], session: AsyncClientSession | None, users: list[str]
) -> dict[str, UserStream]:
    """The stream counters of ``users`` (absent: none yet)."""
    if not users:
        return {}
    cursor = database[COUNTERS].find({"_id": {"$in": users}}, session=session)
    return {
        document["_id"]: UserStream(
            document.get("pos", 0), document.get("unread", 0), document.get("unarchived", 0)
        )
        async for document in cursor.batch_size(len(users) + 1)
    }


async def _holdings(
    database: AsyncDatabase[Document], session: AsyncClientSession, routes: Sequence[Route]
) -> dict[tuple[str, str], Holding]:
    found: dict[tuple[str, str], Holding] = {}
    for key, users in _keys_wanted(routes).items():
        query: Document = {"collapse_key": key, "retracted": False}
        if users is not None:
            query["user_id"] = {"$in": sorted(users)}
        fields = {"_id": 0, "user_id": 1, "seq": 1, "read": 1, "archived": 1}
        async for document in database[INBOX].find(query, fields, session=session):
            user = document["user_id"]
            found[(user, key)] = Holding(
                user, document["seq"], document.get("read", False), document.get("archived", False)
            )
    return found


async def plan_on_streams(
    database: AsyncDatabase[Document],
    session: AsyncClientSession,
    routes: Sequence[Route],
    entries: list[InboxEntry],
    now: datetime,
) -> StreamPlan:
    """Read the counters and collapse holdings the batch needs, then place it on the streams."""
    holdings = await _holdings(database, session, routes)
    users = sorted({entry.user_id for entry in entries} | {user for user, _ in holdings})
    counters = await read_users(database, session, users)
    return plan_stream(routes, entries, counters, holdings, now)


async def write_changes(
    database: AsyncDatabase[Document],
    session: AsyncClientSession,
    changes: Sequence[StreamChange],
    users: Mapping[str, UserStream],
    heads: Mapping[str, int],
) -> None:
    """Insert ``changes`` and set the counters of ``users`` (and the v1 ``heads`` given)."""
    if changes:
        await database[CHANGES].insert_many(
            [change_document(change) for change in changes], session=session
        )
    updates = [_counters_update(user, stream, heads.get(user)) for user, stream in users.items()]
    if updates:
        await database[COUNTERS].bulk_write(updates, session=session)


def _counters_update(user: str, stream: UserStream, head: int | None) -> UpdateOne:
    fields = {"pos": stream.pos, "unread": stream.unread, "unarchived": stream.unarchived}
    if head is not None:
        return UpdateOne({"_id": user}, {"$set": {**fields, "head": head}}, upsert=True)
    return UpdateOne({"_id": user}, {"$set": fields, "$setOnInsert": {"head": 0}}, upsert=True)


async def write_entries(
    database: AsyncDatabase[Document], session: AsyncClientSession, plan: StreamPlan
) -> None:
    """Insert the planned entries, mark what they retract, write the changes and counters."""
    if plan.notifications:
        documents = [
            entry_document(placed, key)
            for placed, key in zip(plan.notifications, plan.collapse_keys, strict=True)
        ]
        await database[INBOX].insert_many(documents, session=session)
    if plan.retracted:
        await database[INBOX].bulk_write(
            [
                UpdateOne({"user_id": held.user_id, "seq": held.seq}, {"$set": {"retracted": True}})
                for held in plan.retracted
            ],
            session=session,
        )
    heads = {placed.user_id: placed.entry.seq for placed in plan.notifications}
    await write_changes(database, session, plan.changes, plan.users, heads)
