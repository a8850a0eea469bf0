"""How the embedded store keeps records, notification bodies and entries in SQLite rows.

Times are integer microseconds since the epoch, UTC, and come back as timezone-aware UTC
datetimes (naive datetimes are refused with ``ValueError``); JSON objects (``data``,
``audience``) are JSON text.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import orjson

from foundation.constants import PENDING
from foundation.errors import StoreError
from outbox.records import (
    Audience,
    JsonObject,
    Notification,
    OutboxRecord,
    audience_from_dict,
    audience_to_dict,
    outbox_record,
    users_of,
)
from outbox.timestamps import from_micros, from_micros_memo, to_micros

# The order ``record_row`` writes and ``record_from_row`` reads.
RECORD_COLUMNS: Final = (
    "id, notification_id, event, data, audience, dedup_key, origin_session, created_at, "
    "status, attempts, last_error, next_attempt_at, kind, collapse_key"
)


def optional_micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def load_object(text: str) -> JsonObject:
    value = orjson.loads(text)
    if not isinstance(value, dict):
        raise StoreError(f"stored JSON is not an object: {text[:80]!r}")
    return value


def json_list(values: Iterable[str]) -> str:
    """One bound parameter for ``IN (SELECT value FROM json_each(?))``: no variable limit."""
    return dumps(list(values))


def record_row(record: OutboxRecord) -> tuple[object, ...]:
    return (
        record.id,
        record.notification_id,
        record.event,
        dumps(record.data),
        dumps(audience_to_dict(record.audience)),
        record.dedup_key,
        record.origin_session,
        to_micros(record.created_at),
        PENDING,
        record.attempts,
        record.last_error,
        optional_micros(record.next_attempt_at),
        record.kind,
        record.collapse_key,
    )


def load_audience(text: str) -> Audience:
    """The audience stored as ``text`` (see :func:`outbox.records.audience_from_dict`).

    The usual one, users named by string ids and nothing else, is decoded without the
    general pattern match (this runs once per claimed record).
    """
    value = orjson.loads(text)
    if type(value) is dict and len(value) == 2 and value.get("kind") == "users":
        ids = value.get("ids")
        if type(ids) is list and (
            type(ids[0]) is str if len(ids) == 1 else all(type(user) is str for user in ids)
        ):
            return users_of(tuple(ids))
    if not isinstance(value, dict):
        raise StoreError(f"stored JSON is not an object: {text[:80]!r}")
    return audience_from_dict(value)


def record_from_row(row: Sequence[Any]) -> OutboxRecord:
    """A record from the columns of ``RECORD_COLUMNS``, in that order."""
    (
        record_id,
        notification_id,
        event,
        data,
        audience,
        dedup_key,
        origin_session,
        created_at,
        status,
        attempts,
        last_error,
        next_attempt_at,
        kind,
        collapse_key,
    ) = row
    return outbox_record(
        record_id,
        notification_id,
        event,
        load_object(data),
        load_audience(audience),
        from_micros_memo(created_at),
        dedup_key,
        origin_session,
        status,
        attempts,
        last_error,
        None if next_attempt_at is None else from_micros(next_attempt_at),
        kind,
        collapse_key,
    )


def notification_from_row(row: Sequence[Any]) -> Notification:
    """A body from ``id, event, data, created_at, origin_session``."""
    return Notification(
        id=row[0],
        event=row[1],
        data=load_object(row[2]),
        created_at=from_micros(row[3]),
        origin_session=row[4],
    )
