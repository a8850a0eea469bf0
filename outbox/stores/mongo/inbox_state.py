"""Inbox state on MongoDB (protocol v2): marks, stream reads, listings, stream acks, trims.

:class:`InboxStateOperations` is the part of :class:`~outbox.stores.mongo.store.MongoStore`
that serves the v2 port methods. A mark and the count update are one transaction (the
counters document and the entries change together or not at all); so is each trim chunk.
Concurrent writers of one user's stream (routing, marks from several nodes) conflict on the
counters document: one commits, the driver runs the other again, so no ``pos`` is handed out
twice.
"""

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from foundation.constants import CHANGES, COUNTERS, INBOX, NOTIFICATIONS, STREAM_ACKS
from outbox.records import AckOutcome, InboxEntry, Notification
from outbox.sequencing import ack_outcome
from outbox.state_rules import OP_SETS, UserStream, mark_change, mark_refused
from outbox.stores.mongo.appending import write_changes
from outbox.stores.mongo.connection import store_errors
from outbox.stores.mongo.documents import (
    Document,
    ack_id,
    change_from_document,
    notification_from_document,
    stream_notification,
)
from outbox.stores.mongo.retention import TRIM_CHUNK, trim_bodies, trim_changes, trim_entries
from outbox.stream import (
    Counts,
    InboxItem,
    ItemFilter,
    ItemState,
    Mark,
    MarkOutcome,
    MarkResult,
    StreamChange,
    StreamHead,
    StreamItem,
    TrimReport,
)
from outbox.timestamps import from_micros

type Database = AsyncDatabase[Document]


def _flag(value: bool) -> Any:
    """A query on a state field that may be missing (missing means false)."""
    return True if value else {"$ne": True}


async def _head(
    database: Database, user_id: str, session: AsyncClientSession | None = None
) -> StreamHead:
    document = await database[COUNTERS].find_one({"_id": user_id}, session=session)
    if document is None:
        return StreamHead()
    counts = Counts(document.get("unread", 0), document.get("unarchived", 0))
    return StreamHead(document.get("pos", 0), document.get("head", 0), counts)


async def _bodies(database: Database, ids: set[str]) -> dict[str, Notification]:
    if not ids:
        return {}
    cursor = database[NOTIFICATIONS].find({"_id": {"$in": sorted(ids)}})
    return {
        document["_id"]: notification_from_document(document)
        async for document in cursor.batch_size(len(ids) + 1)
    }


async def _set_state(
    database: Database, session: AsyncClientSession, user_id: str, mark: Mark
) -> list[int]:
    """Set the mark's state where it differs; the seqs changed (``upto``: a 0 for each)."""
    attribute, value = OP_SETS[mark.op]
    query: Document = {"user_id": user_id, "retracted": {"$ne": True}, attribute: _flag(not value)}
    inbox = database[INBOX]
    if mark.upto is not None:
        query["seq"] = {"$lte": mark.upto}
        result = await inbox.update_many(query, {"$set": {attribute: value}}, session=session)
        return [0] * result.modified_count
    query["seq"] = {"$in": sorted(mark.seqs)}
    found = inbox.find(query, {"_id": 0, "seq": 1}, session=session)
    changed = [document["seq"] async for document in found]
    if changed:
        await inbox.update_many(
            {"user_id": user_id, "seq": {"$in": changed}},
            {"$set": {attribute: value}},
            session=session,
        )
    return changed


async def _mark(
    database: Database, user_id: str, mark: Mark, now: datetime, session: AsyncClientSession
) -> MarkResult:
    head = await _head(database, user_id, session)
    refused = mark_refused(mark, head.seq)
    if refused is not None:
        return MarkResult(refused, head)
    changed = await _set_state(database, session, user_id, mark)
    if not changed:
        return MarkResult(MarkOutcome.UNCHANGED, head)
    user = UserStream(head.pos, head.counts.unread, head.counts.unarchived)
    change, after = mark_change(user_id, mark, changed, user, now)
    await write_changes(database, session, [change], {user_id: after}, {})
    return MarkResult(MarkOutcome.APPLIED, StreamHead(after.pos, head.seq, after.counts), change)


def _item_query(user_id: str, after_seq: int, chosen: ItemFilter) -> Document:
    query: Document = {"user_id": user_id, "seq": {"$gt": after_seq}}
    for name, value in (
        ("read", chosen.read),
        ("archived", chosen.archived),
        ("retracted", chosen.retracted),
    ):
        if value is not None:
            query[name] = _flag(value)
    if chosen.events:
        query["event"] = {"$in": list(chosen.events)}
    return query


class InboxStateOperations:
    """The v2 methods of the storage port, for :class:`MongoStore` (which provides
    ``database`` and ``_transaction``)."""

    database: Database
    _transaction: Callable[[Callable[[AsyncClientSession], Awaitable[Any]]], Awaitable[Any]]

    @store_errors
    async def stream_head(self, user_id: str) -> StreamHead:
        return await _head(self.database, user_id)

    @store_errors
    async def read_stream_after(self, user_id: str, after_pos: int, limit: int) -> list[StreamItem]:
        """Three round trips: the notifications, their bodies, the changes."""
        if limit <= 0:
            return []
        query = {"user_id": user_id, "pos": {"$gt": after_pos}}
        entries = await self.database[INBOX].find(query).sort("pos", 1).limit(limit).to_list()
        bodies = await _bodies(self.database, {entry["notification_id"] for entry in entries})
        changes = await self.database[CHANGES].find(query).sort("pos", 1).limit(limit).to_list()
        items: list[StreamItem] = [
            stream_notification(entry, bodies[entry["notification_id"]])
            for entry in entries
            if entry["notification_id"] in bodies  # being removed by retention
        ]
        items.extend(change_from_document(change) for change in changes)
        items.sort(key=_pos)
        return items[:limit]

    @store_errors
    async def apply_mark(self, user_id: str, mark: Mark, now: datetime) -> MarkResult:
        work = functools.partial(_mark, self.database, user_id, mark, now)
        result: MarkResult = await self._transaction(lambda session: work(session=session))
        return result

    @store_errors
    async def list_items(
        self, user_id: str, after_seq: int, limit: int, chosen: ItemFilter
    ) -> list[InboxItem]:
        if limit <= 0:
            return []
        query = _item_query(user_id, after_seq, chosen)
        entries = await self.database[INBOX].find(query).sort("seq", 1).limit(limit).to_list()
        bodies = await _bodies(self.database, {entry["notification_id"] for entry in entries})
        return [
            InboxItem(
                InboxEntry(
                    user_id,
                    entry["seq"],
                    bodies[entry["notification_id"]],
                    from_micros(entry["routed_us"]),
                ),
                entry["pos"],
                ItemState(
                    entry.get("read", False),
                    entry.get("archived", False),
                    entry.get("retracted", False),
                ),
                entry.get("replaces"),
            )
            for entry in entries
            if entry["notification_id"] in bodies
        ]

    @store_errors
    async def stream_acked(self, user_id: str, device: str) -> int:
        document = await self.database[STREAM_ACKS].find_one({"_id": ack_id(user_id, device)})
        return int(document["pos"]) if document is not None else 0

    @store_errors
    async def record_stream_ack(self, user_id: str, device: str, pos: int) -> AckOutcome:
        head = (await _head(self.database, user_id)).pos
        outcome = ack_outcome(await self.stream_acked(user_id, device), head, pos)
        if outcome is not AckOutcome.STORED:
            return outcome
        try:
            # Conditional on the stored ack being lower, so a racing higher ack is kept.
            await self.database[STREAM_ACKS].update_one(
                {"_id": ack_id(user_id, device), "pos": {"$lt": pos}},
                {"$set": {"pos": pos}},
                upsert=True,
            )
        except DuplicateKeyError:
            return ack_outcome(await self.stream_acked(user_id, device), head, pos)
        return AckOutcome.STORED

    @store_errors
    async def trim_stream(self, before: datetime, now: datetime) -> TrimReport:
        """Entries, then changes, then bodies, each in chunks of one transaction."""
        deleted = 0
        changes: list[StreamChange] = []
        scanned = TRIM_CHUNK
        while scanned == TRIM_CHUNK:
            trim = functools.partial(trim_entries, self.database, before=before, now=now)
            scanned, removed, made = await self._transaction(trim)
            deleted += removed
            changes.extend(made)
        trim_old = functools.partial(trim_changes, self.database, before=before)
        while await self._transaction(trim_old) == TRIM_CHUNK:
            pass
        after: str | None = ""
        while after is not None:
            after = await self._transaction(
                functools.partial(trim_bodies, self.database, before=before, after=after)
            )
        return TrimReport(deleted, tuple(changes))


def _pos(item: StreamItem) -> int:
    return item.pos
