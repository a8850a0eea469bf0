"""How the MongoDB store keeps records, notification bodies, entries and acks as documents.

Times: BSON dates hold milliseconds, so each stored time is kept twice: as a date (for people,
the TTL index and index bounds) and as microseconds since the Unix epoch (``created_us``,
``next_attempt_us``, ``routed_us``), which the store compares and reads back. Times therefore
round-trip exactly.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from foundation.constants import NOTIFY
from outbox.records import (
    InboxEntry,
    Notification,
    OutboxRecord,
    audience_from_dict,
    audience_to_dict,
)
from outbox.stream import ChangeOp, Counts, StreamChange, StreamNotification
from outbox.timestamps import from_micros, to_micros

type Document = dict[str, Any]


def outbox_document(record: OutboxRecord) -> Document:
    """The stored form of an outbox record; the store and the emit hook both write this."""
    next_attempt = record.next_attempt_at
    return {
        "_id": record.id,
        "notification_id": record.notification_id,
        "event": record.event,
        "data": record.data,
        "audience": audience_to_dict(record.audience),
        "dedup_key": record.dedup_key,
        "origin_session": record.origin_session,
        "created_at": record.created_at,
        "created_us": to_micros(record.created_at),
        "status": record.status,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "next_attempt_at": next_attempt,
        "next_attempt_us": None if next_attempt is None else to_micros(next_attempt),
        "kind": record.kind,
        "collapse_key": record.collapse_key,
    }


def next_attempt_fields(moment: datetime | None) -> Document:
    micros = to_micros(moment) if moment is not None else None
    return {"next_attempt_at": moment, "next_attempt_us": micros}


def optional_time(micros: int | None) -> datetime | None:
    return from_micros(micros) if micros is not None else None


def record_from_document(document: Mapping[str, Any]) -> OutboxRecord:
    """Decode what :func:`outbox_document` wrote (with later status changes)."""
    return OutboxRecord(
        id=document["_id"],
        notification_id=document["notification_id"],
        event=document["event"],
        data=document["data"],
        audience=audience_from_dict(document["audience"]),
        created_at=from_micros(document["created_us"]),
        dedup_key=document.get("dedup_key"),
        origin_session=document.get("origin_session"),
        status=document["status"],
        attempts=document.get("attempts", 0),
        last_error=document.get("last_error"),
        next_attempt_at=optional_time(document.get("next_attempt_us")),
        kind=document.get("kind", NOTIFY),
        collapse_key=document.get("collapse_key"),
    )


def body_document(notification: Notification, now: datetime) -> Document:
    return {
        "_id": notification.id,
        "event": notification.event,
        "data": notification.data,
        "created_at": notification.created_at,
        "created_us": to_micros(notification.created_at),
        "origin_session": notification.origin_session,
        "stored_at": now,
    }


def notification_from_document(document: Mapping[str, Any]) -> Notification:
    return Notification(
        id=document["_id"],
        event=document["event"],
        data=document["data"],
        created_at=from_micros(document["created_us"]),
        origin_session=document.get("origin_session"),
    )


def entry_document(placed: StreamNotification, collapse_key: str | None) -> Document:
    """An inbox entry with its stream fields; state fields start false (see the migration)."""
    entry = placed.entry
    document: Document = {
        "user_id": entry.user_id,
        "seq": entry.seq,
        "notification_id": entry.notification.id,
        "event": entry.notification.event,
        "routed_at": entry.routed_at,
        "routed_us": to_micros(entry.routed_at),
        "pos": placed.pos,
        "read": False,
        "archived": False,
        "retracted": False,
        "unread_after": placed.counts.unread,
        "unarchived_after": placed.counts.unarchived,
    }
    if collapse_key is not None:  # absent otherwise: the collapse index is partial
        document["collapse_key"] = collapse_key
    if placed.replaces is not None:
        document["replaces"] = placed.replaces
    return document


def stream_notification(document: Mapping[str, Any], body: Notification) -> StreamNotification:
    """Decode an inbox entry written by :func:`entry_document` (or backfilled by version 3)."""
    entry = InboxEntry(
        document["user_id"], document["seq"], body, from_micros(document["routed_us"])
    )
    counts = Counts(document.get("unread_after", 0), document.get("unarchived_after", 0))
    return StreamNotification(entry, document["pos"], counts, document.get("replaces"))


def change_document(change: StreamChange) -> Document:
    return {
        "user_id": change.user_id,
        "pos": change.pos,
        "op": change.op.value,
        "seqs": list(change.seqs),
        "upto": change.upto,
        "at": change.at,
        "at_us": to_micros(change.at),
        "unread_after": change.counts.unread,
        "unarchived_after": change.counts.unarchived,
    }


def change_from_document(document: Mapping[str, Any]) -> StreamChange:
    return StreamChange(
        user_id=document["user_id"],
        pos=document["pos"],
        op=ChangeOp(document["op"]),
        seqs=tuple(document["seqs"]),
        upto=document.get("upto"),
        counts=Counts(document["unread_after"], document["unarchived_after"]),
        at=from_micros(document["at_us"]),
    )


def ack_id(user_id: str, device: str) -> Document:
    return {"u": user_id, "d": device}
