"""Builders for records and routes used by the contract suite.

Time is a fixed instant (``T0``) and offsets from it (``at``), so that tests never read the
clock. ``T0`` falls on a whole millisecond; tests about sub-millisecond precision add
``microseconds`` explicitly, so that a precision fault fails those tests and no others.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from foundation.constants import RETRACT
from outbox.records import (
    Audience,
    Everyone,
    Group,
    InboxEntry,
    JsonObject,
    OutboxRecord,
    Route,
    Users,
    new_record_id,
    notification_id_for,
)

T0 = datetime(2031, 5, 17, 8, 30, 15, 123000, tzinfo=UTC)

# What the routing worker's group resolver would answer; the store only sees the recipients.
GROUPS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("family", "f-1"): ("alice", "bob"),
}


def at(seconds: float = 0.0, microseconds: int = 0) -> datetime:
    """``T0`` shifted by ``seconds`` and ``microseconds``."""
    return T0 + timedelta(seconds=seconds, microseconds=microseconds)


def make_record(
    *,
    audience: Audience | None = None,
    event: str = "thing_happened",
    data: JsonObject | None = None,
    created_at: datetime = T0,
    dedup_key: str | None = None,
    origin_session: str | None = None,
    next_attempt_at: datetime | None = None,
    collapse_key: str | None = None,
) -> OutboxRecord:
    """A pending record as an emit would write it; the audience defaults to ``alice``."""
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=notification_id_for(dedup_key, record_id),
        event=event,
        data={"n": 1} if data is None else data,
        audience=Users(("alice",)) if audience is None else audience,
        created_at=created_at,
        dedup_key=dedup_key,
        origin_session=origin_session,
        next_attempt_at=next_attempt_at,
        collapse_key=collapse_key,
    )


def make_retract(
    key: str, *, audience: Audience | None = None, created_at: datetime = T0
) -> OutboxRecord:
    """A pending retraction of the notifications holding ``key`` (default: everyone's)."""
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=record_id,
        event="retract",
        data={},
        audience=Everyone() if audience is None else audience,
        created_at=created_at,
        kind=RETRACT,
        collapse_key=key,
    )


def make_records(
    count: int, *, audience: Audience | None = None, start: float = 0.0
) -> list[OutboxRecord]:
    """``count`` records created one second apart from ``at(start)``, each with its own data."""
    return [
        make_record(audience=audience, data={"i": i}, created_at=at(start + i))
        for i in range(count)
    ]


def for_users(*user_ids: str) -> Users:
    return Users(tuple(user_ids))


def recipients_of(record: OutboxRecord) -> tuple[str, ...]:
    """Resolve an audience the way the routing worker does."""
    match record.audience:
        case Users(ids):
            return ids
        case Group(kind, group_id):
            return GROUPS[(kind, group_id)]
        case Everyone():
            return ()


def routes_for(records: Iterable[OutboxRecord]) -> list[Route]:
    return [Route(record, recipients_of(record)) for record in records]


def entry(user_id: str, seq: int, record: OutboxRecord, routed_at: datetime) -> InboxEntry:
    """The inbox entry that routing ``record`` to ``user_id`` at ``routed_at`` should create."""
    return InboxEntry(user_id, seq, record.notification(), routed_at)


def of_user(entries: Sequence[InboxEntry], user_id: str) -> list[InboxEntry]:
    """``user_id``'s entries, in the order they appear in ``entries``."""
    return [e for e in entries if e.user_id == user_id]
