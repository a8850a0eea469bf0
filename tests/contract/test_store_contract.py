"""The storage port's contract, run unchanged against every adapter.

Every assertion comes from the docstrings of :class:`outbox.port.OutboxStore`. Leases expire
because a later ``now`` is passed, never because a test waits. Tests on the ``store`` fixture
call the store one operation at a time; concurrency is tested on SQLite only, where it means
something (the MongoDB test double is not safe under concurrent sessions).
"""

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from foundation.constants import DEAD, PENDING
from foundation.errors import LeaseLost
from outbox.port import OutboxStore
from outbox.records import (
    AckOutcome,
    Audience,
    Everyone,
    Group,
    InboxEntry,
    LagFigures,
    OutboxRecord,
    Route,
    Users,
)
from tests.contract.builders import (
    T0,
    at,
    entry,
    for_users,
    make_record,
    make_records,
    of_user,
    routes_for,
)

LEASE = 30.0
A = "router-a"
B = "router-b"


async def route_pending(
    store: OutboxStore, now: datetime, owner: str = A, limit: int = 100
) -> list[InboxEntry]:
    """Claim and route whatever is due, as the worker does."""
    claimed = await store.claim_batch(owner, now, LEASE, limit)
    return await store.append_to_inbox(owner, now, routes_for(claimed))


async def pending_ids(store: OutboxStore, now: datetime, owner: str = A) -> list[str]:
    return [r.id for r in await store.claim_batch(owner, now, LEASE, 100)]


def ids(records: list[OutboxRecord]) -> list[str]:
    return [r.id for r in records]


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    offset = value.utcoffset()
    assert offset is not None, f"{value!r} is naive"
    assert offset == timedelta(0), f"{value!r} is not UTC"


# --- add_records and claim_batch -------------------------------------------------------------


async def test_ping_answers(store: OutboxStore) -> None:
    await store.ping()


async def test_a_healthy_store_is_writable_and_the_check_leaves_no_trace(
    store: OutboxStore,
) -> None:
    await store.check_writable()
    await store.check_writable()
    # Neither a record nor a lease: the first claimer still takes the routing lease.
    assert await store.lag() == LagFigures(0, 0, None)
    await store.add_records(make_records(1))
    assert len(await store.claim_batch("w1", T0, LEASE, 10)) == 1
    assert await store.claim_batch("w2", T0, LEASE, 10) == []


async def test_claim_returns_records_pending_in_the_order_added(store: OutboxStore) -> None:
    first, second, third, fourth = make_records(4)
    await store.add_records([first, second])
    await store.add_records([third])
    await store.add_records([fourth])

    claimed = await store.claim_batch(A, T0, LEASE, 10)

    assert claimed == [first, second, third, fourth]
    assert {r.status for r in claimed} == {PENDING}


async def test_claim_on_an_empty_outbox_returns_nothing(store: OutboxStore) -> None:
    assert await store.claim_batch(A, T0, LEASE, 10) == []


async def test_claim_respects_limit_oldest_first(store: OutboxStore) -> None:
    records = make_records(3)
    for record in records:
        await store.add_records([record])

    assert await store.claim_batch(A, T0, LEASE, 2) == records[:2]
    assert await store.claim_batch(A, T0, LEASE, 1) == records[:1]
    await store.append_to_inbox(A, T0, routes_for(records[:2]))
    assert await store.claim_batch(A, T0, LEASE, 2) == records[2:]


async def test_claim_hides_records_until_next_attempt_at(store: OutboxStore) -> None:
    later = make_record(created_at=at(0), next_attempt_at=at(60))
    overdue = make_record(created_at=at(1), next_attempt_at=at(-5))
    plain = make_record(created_at=at(2))
    await store.add_records([later, overdue, plain])

    assert await store.claim_batch(A, T0, LEASE, 10) == [overdue, plain]
    # Limit counts only records that are due.
    assert await store.claim_batch(A, T0, LEASE, 1) == [overdue]
    assert await store.claim_batch(A, at(60, microseconds=-1), LEASE, 10) == [overdue, plain]
    assert await store.claim_batch(A, at(60), LEASE, 10) == [later, overdue, plain]


async def test_every_field_round_trips(store: OutboxStore) -> None:
    data = {
        "title": "Zoë a rejoint « la famille » 👪",
        "nested": {"list": [1, -2, 2.5, "x", None, True, False, {"deep": []}], "empty": {}},
        "big": 2**53 + 1,
        "ключ": "значение",
    }
    to_users = make_record(
        audience=Users(("alice", "björn", "ユーザー")),
        event="family_member_joined",
        data=data,
        created_at=at(0, microseconds=1),
        dedup_key="join:family-1:björn",
        origin_session="session-ü-42",
        next_attempt_at=at(-1),
    )
    to_group = make_record(
        audience=Group("family", "f-1"),
        event="family.renamed",
        data={"name": "Les Dupont"},
        created_at=at(1, microseconds=999_999),
    )
    to_everyone = make_record(
        audience=Everyone(), event="maintenance", data={}, created_at=at(3, microseconds=5)
    )
    await store.add_records([to_users, to_group, to_everyone])

    claimed = await store.claim_batch(A, at(10), LEASE, 10)

    assert claimed == [to_users, to_group, to_everyone]
    for record in claimed:
        assert_utc(record.created_at)
    assert_utc(claimed[0].next_attempt_at)
    assert claimed[0].created_at.microsecond == 123_001
    assert claimed[2].audience == Everyone()


async def test_data_keys_with_dots_and_dollars_round_trip(store: OutboxStore) -> None:
    record = make_record(data={"a.b": 1, "$set": {"x.y": "$z"}, "": "empty key"})
    await store.add_records([record])

    assert await store.claim_batch(A, T0, LEASE, 10) == [record]
    await store.append_to_inbox(A, T0, routes_for([record]))
    assert await store.read_inbox_after("alice", 0, 10) == [entry("alice", 1, record, T0)]


async def test_routed_at_keeps_microseconds(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    now = at(10, microseconds=457)

    created = await route_pending(store, now)

    assert created == [entry("alice", 1, record, now)]
    assert await store.read_inbox_after("alice", 0, 10) == created
    assert_utc(created[0].routed_at)


async def test_retry_at_is_honoured_to_the_microsecond(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    retry_at = at(60, microseconds=457)

    await fail(store, record.id, "boom", retry_at)

    assert await store.claim_batch(A, retry_at - timedelta(microseconds=1), LEASE, 10) == []
    [due] = await store.claim_batch(A, retry_at, LEASE, 10)
    assert due.next_attempt_at == retry_at


async def test_next_attempt_at_round_trips_to_the_microsecond(store: OutboxStore) -> None:
    record = make_record(next_attempt_at=at(-1, microseconds=7))
    await store.add_records([record])

    assert await store.claim_batch(A, T0, LEASE, 10) == [record]


# --- the routing lease -----------------------------------------------------------------------


async def test_lease_excludes_other_owners_until_it_expires(store: OutboxStore) -> None:
    records = [make_record(audience=for_users("alice", "bob"), created_at=at(i)) for i in range(2)]
    await store.add_records(records)

    claimed_by_a = await store.claim_batch(A, T0, LEASE, 10)
    assert claimed_by_a == records
    assert await store.claim_batch(B, at(LEASE - 1), LEASE, 10) == []

    claimed_by_b = await store.claim_batch(B, at(LEASE + 1), LEASE, 10)
    assert claimed_by_b == records

    with pytest.raises(LeaseLost):
        await store.append_to_inbox(A, at(LEASE + 2), routes_for(claimed_by_a))
    assert await store.head("alice") == 0
    assert await store.head("bob") == 0
    assert await store.read_inbox_after("alice", 0, 10) == []
    assert (await store.lag()).pending == 2
    assert await store.claim_batch(B, at(LEASE + 3), LEASE, 10) == records

    created = await store.append_to_inbox(B, at(LEASE + 4), routes_for(claimed_by_b))
    assert of_user(created, "alice") == [
        entry("alice", 1, records[0], at(LEASE + 4)),
        entry("alice", 2, records[1], at(LEASE + 4)),
    ]
    assert await store.head("bob") == 2


async def test_renewing_the_lease_extends_it(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])

    assert await store.claim_batch(A, T0, LEASE, 10) == [record]
    assert await store.claim_batch(A, at(20), LEASE, 10) == [record]
    assert await store.claim_batch(B, at(40), LEASE, 10) == []
    await store.append_to_inbox(A, at(45), routes_for([record]))
    assert await store.head("alice") == 1


async def test_lease_renewed_then_expired_goes_to_the_next_owner(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])

    assert await store.claim_batch(A, T0, LEASE, 10) == [record]
    assert await store.claim_batch(A, at(20), LEASE, 10) == [record]
    assert await store.claim_batch(B, at(20 + LEASE + 1), LEASE, 10) == [record]
    with pytest.raises(LeaseLost):
        await store.append_to_inbox(A, at(20 + LEASE + 2), routes_for([record]))


async def test_release_lease_lets_another_owner_claim_at_once(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    assert await store.claim_batch(A, T0, LEASE, 10) == [record]

    await store.release_lease(A)

    assert await store.claim_batch(B, at(1), LEASE, 10) == [record]
    with pytest.raises(LeaseLost):
        await store.append_to_inbox(A, at(2), routes_for([record]))
    await store.append_to_inbox(B, at(2), routes_for([record]))
    assert await store.head("alice") == 1


async def test_release_by_another_owner_keeps_the_lease(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    assert await store.claim_batch(A, T0, LEASE, 10) == [record]

    await store.release_lease(B)

    assert await store.claim_batch(B, at(1), LEASE, 10) == []
    await store.append_to_inbox(A, at(2), routes_for([record]))
    assert await store.head("alice") == 1


async def test_append_by_an_owner_without_the_lease_writes_nothing(store: OutboxStore) -> None:
    records = make_records(2, audience=for_users("alice", "bob"))
    await store.add_records(records)
    assert await store.claim_batch(A, T0, LEASE, 10) == records

    with pytest.raises(LeaseLost):
        await store.append_to_inbox(B, at(1), routes_for(records))

    assert await store.head("alice") == 0
    assert await store.head("bob") == 0
    assert await store.claim_batch(A, at(2), LEASE, 10) == records


# --- append_to_inbox -------------------------------------------------------------------------


async def test_seqs_are_gap_free_across_batches(store: OutboxStore) -> None:
    records = make_records(7)
    expected: list[InboxEntry] = []
    for batch, now in ((records[:3], at(10)), (records[3:4], at(20)), (records[4:], at(30))):
        await store.add_records(batch)
        created = await route_pending(store, now)
        start = len(expected) + 1
        assert created == [entry("alice", start + i, r, now) for i, r in enumerate(batch)]
        expected.extend(created)
        assert await store.head("alice") == len(expected)

    assert await store.read_inbox_after("alice", 0, 100) == expected


async def test_interleaved_users_each_get_their_own_sequence(store: OutboxStore) -> None:
    audiences: list[Audience] = [
        for_users("alice"),
        for_users("bob"),
        for_users("alice", "bob"),
        for_users("carol", "alice"),
        Group("family", "f-1"),
    ]
    records = [make_record(audience=a, created_at=at(i)) for i, a in enumerate(audiences)]
    await store.add_records(records)

    created = await route_pending(store, at(10))

    now = at(10)
    expected = {
        "alice": [entry("alice", s, records[i], now) for s, i in ((1, 0), (2, 2), (3, 3), (4, 4))],
        "bob": [entry("bob", s, records[i], now) for s, i in ((1, 1), (2, 2), (3, 4))],
        "carol": [entry("carol", 1, records[3], now)],
    }
    assert len(created) == 8
    for user, entries in expected.items():
        assert of_user(created, user) == entries
        assert await store.read_inbox_after(user, 0, 100) == entries
        assert await store.head(user) == len(entries)
    assert await store.head("dave") == 0


async def test_seqs_follow_the_route_order_given(store: OutboxStore) -> None:
    records = make_records(3)
    await store.add_records(records)
    claimed = await store.claim_batch(A, T0, LEASE, 10)

    created = await store.append_to_inbox(A, T0, routes_for(reversed(claimed)))

    assert created == [
        entry("alice", 1, records[2], T0),
        entry("alice", 2, records[1], T0),
        entry("alice", 3, records[0], T0),
    ]


async def test_routed_records_are_not_claimed_again(store: OutboxStore) -> None:
    routed, left = make_records(2)
    await store.add_records([routed, left])
    await store.claim_batch(A, T0, LEASE, 10)

    await store.append_to_inbox(A, T0, routes_for([routed]))

    assert await store.claim_batch(A, at(1), LEASE, 10) == [left]
    assert await store.lag() == LagFigures(pending=1, dead=0, oldest_pending_at=left.created_at)


async def test_same_dedup_key_in_one_batch_makes_one_entry(store: OutboxStore) -> None:
    first = make_record(dedup_key="k-1", created_at=at(0))
    again = make_record(dedup_key="k-1", created_at=at(0))
    other = make_record(data={"other": True}, created_at=at(1))
    assert first.notification_id == again.notification_id
    await store.add_records([first, again, other])

    created = await route_pending(store, at(5))

    assert created == [entry("alice", 1, first, at(5)), entry("alice", 2, other, at(5))]
    assert await store.head("alice") == 2
    assert await store.claim_batch(A, at(6), LEASE, 10) == []
    assert (await store.lag()).pending == 0


async def test_same_notification_later_reaches_only_new_recipients(store: OutboxStore) -> None:
    first = make_record(dedup_key="k-1", data={"v": 1}, created_at=at(0))
    await store.add_records([first])
    await route_pending(store, at(5))

    again = make_record(
        audience=for_users("alice", "bob"), dedup_key="k-1", data={"v": 2}, created_at=at(6)
    )
    await store.add_records([again])
    created = await route_pending(store, at(10))

    # The body is stored only when absent: the first emit's body is the notification.
    assert created == [entry("bob", 1, first, at(10))]
    assert await store.read_inbox_after("alice", 0, 10) == [entry("alice", 1, first, at(5))]
    assert await store.head("alice") == 1
    assert await store.claim_batch(A, at(11), LEASE, 10) == []


async def test_route_repeated_by_a_new_owner_is_a_no_op(store: OutboxStore) -> None:
    done = make_record(audience=for_users("alice", "bob"), created_at=at(0))
    await store.add_records([done])
    assert await store.claim_batch(A, T0, LEASE, 10) == [done]
    await store.append_to_inbox(A, T0, routes_for([done]))

    fresh = make_record(audience=for_users("bob"), created_at=at(1))
    await store.add_records([fresh])
    assert await store.claim_batch(B, at(LEASE + 1), LEASE, 10) == [fresh]
    created = await store.append_to_inbox(B, at(LEASE + 1), routes_for([done, fresh, done]))

    assert created == [entry("bob", 2, fresh, at(LEASE + 1))]
    assert await store.head("alice") == 1
    assert await store.read_inbox_after("bob", 0, 10) == [
        entry("bob", 1, done, T0),
        entry("bob", 2, fresh, at(LEASE + 1)),
    ]


async def test_everyone_route_is_marked_routed_without_entries(store: OutboxStore) -> None:
    broadcast = make_record(audience=Everyone(), created_at=at(0))
    personal = make_record(created_at=at(1))
    await store.add_records([broadcast, personal])
    claimed = await store.claim_batch(A, T0, LEASE, 10)
    assert claimed == [broadcast, personal]

    created = await store.append_to_inbox(A, T0, [Route(broadcast), *routes_for([personal])])

    assert created == [entry("alice", 1, personal, T0)]
    assert await store.claim_batch(A, at(1), LEASE, 10) == []
    assert await store.lag() == LagFigures(pending=0, dead=0, oldest_pending_at=None)


async def test_empty_append_writes_nothing(store: OutboxStore) -> None:
    await store.claim_batch(A, T0, LEASE, 10)
    assert await store.append_to_inbox(A, T0, []) == []
    assert await store.head("alice") == 0


# --- read_inbox_after ------------------------------------------------------------------------


async def test_read_inbox_after_is_ascending_exclusive_and_limited(store: OutboxStore) -> None:
    records = make_records(5)
    await store.add_records(records[:2])
    await route_pending(store, at(10))
    await store.add_records(records[2:])
    await route_pending(store, at(20))
    routed_at = [at(10), at(10)] + [at(20)] * 3
    everything = [entry("alice", i + 1, r, routed_at[i]) for i, r in enumerate(records)]

    assert await store.read_inbox_after("alice", 0, 100) == everything
    assert await store.read_inbox_after("alice", 0, 2) == everything[:2]
    assert await store.read_inbox_after("alice", 2, 2) == everything[2:4]
    assert await store.read_inbox_after("alice", 4, 100) == everything[4:]
    assert await store.read_inbox_after("alice", 5, 100) == []
    assert await store.read_inbox_after("alice", 99, 100) == []
    for e in await store.read_inbox_after("alice", 0, 100):
        assert_utc(e.routed_at)
        assert_utc(e.notification.created_at)


async def test_read_inbox_never_shows_another_users_entries(store: OutboxStore) -> None:
    secret = make_record(audience=for_users("bob"), data={"secret": "bob's"}, created_at=at(0))
    shared = make_record(audience=for_users("alice", "bob"), created_at=at(1))
    mine = make_record(audience=for_users("alice"), created_at=at(2))
    await store.add_records([secret, shared, mine])
    await route_pending(store, T0)

    assert await store.read_inbox_after("alice", 0, 100) == [
        entry("alice", 1, shared, T0),
        entry("alice", 2, mine, T0),
    ]
    assert await store.read_inbox_after("bob", 0, 100) == [
        entry("bob", 1, secret, T0),
        entry("bob", 2, shared, T0),
    ]
    assert await store.read_inbox_after("mallory", 0, 100) == []
    assert await store.read_inbox_after("alic", 0, 100) == []


# --- failures, dead records and lag ----------------------------------------------------------


async def fail(
    store: OutboxStore, record_id: str, error: str, retry_at: datetime | None, now: datetime = T0
) -> None:
    """Report a failure as the router does: holding the lease (taken here when not held)."""
    await store.claim_batch(A, now, LEASE, 0)
    await store.record_failure(A, now, record_id, error, retry_at)


async def test_a_failure_reported_without_the_lease_records_nothing(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    await store.claim_batch(A, T0, LEASE, 10)
    # A paused past its lease: B took over, and A's late report must not kill B's record.
    await store.claim_batch(B, at(LEASE + 1), LEASE, 0)
    with pytest.raises(LeaseLost):
        await store.record_failure(A, at(LEASE + 2), record.id, "late", None)
    with pytest.raises(LeaseLost):  # nor with a clock that says the lease is still A's
        await store.record_failure(A, T0, record.id, "late", None)
    assert await store.list_dead(10) == []
    [claimed] = await store.claim_batch(B, at(LEASE + 3), LEASE, 10)
    assert (claimed.id, claimed.attempts, claimed.last_error) == (record.id, 0, None)


async def test_failure_with_retry_at_keeps_the_record_pending_but_hidden(
    store: OutboxStore,
) -> None:
    record = make_record()
    await store.add_records([record])
    await store.claim_batch(A, T0, LEASE, 10)

    await fail(store, record.id, "resolver timed out", at(60))

    assert await store.claim_batch(A, at(60, microseconds=-1), LEASE, 10) == []
    assert await store.lag() == LagFigures(pending=1, dead=0, oldest_pending_at=record.created_at)
    [retried] = await store.claim_batch(A, at(60), LEASE, 10)
    assert retried.id == record.id
    assert retried.status == PENDING
    assert retried.attempts == 1
    assert retried.last_error == "resolver timed out"
    assert retried.next_attempt_at == at(60)
    assert retried.notification() == record.notification()

    await fail(store, record.id, "again", at(120))
    assert await store.claim_batch(A, at(119), LEASE, 10) == []
    [twice] = await store.claim_batch(A, at(120), LEASE, 10)
    assert (twice.attempts, twice.last_error) == (2, "again")


async def test_failure_without_retry_makes_the_record_dead(store: OutboxStore) -> None:
    doomed, fine = make_records(2)
    await store.add_records([doomed, fine])
    await store.claim_batch(A, T0, LEASE, 10)

    await fail(store, doomed.id, "no resolver for group kind 'team'", None)

    assert await store.claim_batch(A, at(3600), LEASE, 10) == [fine]
    [dead] = await store.list_dead(10)
    assert dead.id == doomed.id
    assert dead.status == DEAD
    assert dead.attempts == 1
    assert dead.last_error == "no resolver for group kind 'team'"
    assert dead.notification() == doomed.notification()
    assert dead.audience == doomed.audience
    assert await store.lag() == LagFigures(pending=1, dead=1, oldest_pending_at=fine.created_at)


async def test_a_failure_reported_after_routing_changes_nothing(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    await route_pending(store, T0)

    await fail(store, record.id, "late report", None)

    assert await store.list_dead(10) == []
    assert await store.requeue_dead(None, at(1)) == 0
    assert await store.claim_batch(A, at(1), LEASE, 10) == []
    assert await store.lag() == LagFigures(pending=0, dead=0, oldest_pending_at=None)
    assert await store.read_inbox_after("alice", 0, 10) == [entry("alice", 1, record, T0)]


async def test_lag_counts_pending_and_dead(store: OutboxStore) -> None:
    assert await store.lag() == LagFigures(pending=0, dead=0, oldest_pending_at=None)
    assert (await store.lag()).lag_seconds(T0) == 0.0

    routed, dead, waiting, newest = make_records(4)
    await store.add_records([routed, dead, waiting, newest])
    await store.claim_batch(A, T0, LEASE, 10)
    await store.append_to_inbox(A, T0, routes_for([routed]))
    await fail(store, dead.id, "boom", None)
    await fail(store, waiting.id, "slow", at(3600))

    figures = await store.lag()

    assert figures == LagFigures(pending=2, dead=1, oldest_pending_at=waiting.created_at)
    assert_utc(figures.oldest_pending_at)
    assert figures.lag_seconds(at(62, microseconds=500_000)) == 60.5


async def test_list_dead_is_oldest_first_and_limited(store: OutboxStore) -> None:
    records = make_records(3)
    await store.add_records(records)
    for record in reversed(records):
        await fail(store, record.id, f"failed {record.data}", None)

    assert ids(await store.list_dead(10)) == ids(records)
    assert ids(await store.list_dead(2)) == ids(records[:2])


async def test_requeue_dead_by_id(store: OutboxStore) -> None:
    first, second, pending = make_records(3)
    await store.add_records([first, second, pending])
    for record in (first, second):
        await fail(store, record.id, "boom", None)
        await fail(store, record.id, "boom", None)

    requeued = await store.requeue_dead([first.id, pending.id, "0" * 32], at(100))

    assert requeued == 1
    assert ids(await store.list_dead(10)) == [second.id]
    claimed = await store.claim_batch(A, at(100), LEASE, 10)
    assert ids(claimed) == [first.id, pending.id]
    assert claimed[0].attempts == 0
    assert claimed[0].status == PENDING
    assert claimed[0].notification() == first.notification()
    assert await store.lag() == LagFigures(pending=2, dead=1, oldest_pending_at=first.created_at)


async def test_requeue_all_dead(store: OutboxStore) -> None:
    records = make_records(3)
    await store.add_records(records)
    for record in records:
        await fail(store, record.id, "boom", None)
    assert await store.requeue_dead(None, at(10)) == 3

    assert await store.list_dead(10) == []
    assert await store.requeue_dead(None, at(11)) == 0
    claimed = await store.claim_batch(A, at(11), LEASE, 10)
    assert ids(claimed) == ids(records)
    assert [r.attempts for r in claimed] == [0, 0, 0]
    created = await store.append_to_inbox(A, at(11), routes_for(claimed))
    assert [e.seq for e in created] == [1, 2, 3]


# --- acks ------------------------------------------------------------------------------------


async def test_acks_on_an_empty_inbox(store: OutboxStore) -> None:
    assert await store.acked("alice", "default") == 0
    assert await store.record_ack("alice", "default", 0) is AckOutcome.UNCHANGED
    assert await store.record_ack("alice", "default", 1) is AckOutcome.ABOVE_HEAD
    assert await store.acked("alice", "default") == 0


async def test_ack_outcomes(store: OutboxStore) -> None:
    await store.add_records(make_records(3))
    await route_pending(store, T0)

    steps = [
        (2, AckOutcome.STORED, 2),
        (2, AckOutcome.UNCHANGED, 2),
        (1, AckOutcome.STALE, 2),
        (0, AckOutcome.STALE, 2),
        (4, AckOutcome.ABOVE_HEAD, 2),
        (3, AckOutcome.STORED, 3),
        (2**63 - 1, AckOutcome.ABOVE_HEAD, 3),
    ]
    for seq, outcome, stored in steps:
        assert await store.record_ack("alice", "phone", seq) is outcome, seq
        assert await store.acked("alice", "phone") == stored, seq


async def test_acks_are_per_user_and_device(store: OutboxStore) -> None:
    await store.add_records(make_records(3, audience=for_users("alice", "bob")))
    await route_pending(store, T0)

    assert await store.record_ack("alice", "phone", 3) is AckOutcome.STORED
    assert await store.acked("alice", "laptop") == 0
    assert await store.acked("bob", "phone") == 0
    assert await store.record_ack("alice", "laptop", 1) is AckOutcome.STORED
    assert await store.record_ack("bob", "phone", 2) is AckOutcome.STORED
    assert await store.record_ack("carol", "phone", 1) is AckOutcome.ABOVE_HEAD

    assert await store.acked("alice", "phone") == 3
    assert await store.acked("alice", "laptop") == 1
    assert await store.acked("bob", "phone") == 2
    assert await store.acked("carol", "phone") == 0


# --- retention -------------------------------------------------------------------------------


async def test_trim_deletes_old_entries_and_keeps_heads(store: OutboxStore) -> None:
    old = make_records(2, audience=for_users("alice", "bob"))
    await store.add_records(old)
    await route_pending(store, at(0))
    recent = make_record(audience=for_users("alice"), created_at=at(50))
    await store.add_records([recent])
    await route_pending(store, at(100))
    assert await store.record_ack("bob", "default", 2) is AckOutcome.STORED

    assert await store.trim(at(50)) == 4

    assert await store.head("alice") == 3
    assert await store.head("bob") == 2
    assert await store.acked("bob", "default") == 2
    assert await store.read_inbox_after("alice", 0, 10) == [entry("alice", 3, recent, at(100))]
    assert await store.read_inbox_after("bob", 0, 10) == []

    later = make_record(audience=for_users("alice", "bob"), created_at=at(150))
    await store.add_records([later])
    created = await route_pending(store, at(200))

    assert of_user(created, "alice") == [entry("alice", 4, later, at(200))]
    assert of_user(created, "bob") == [entry("bob", 3, later, at(200))]
    assert await store.read_inbox_after("bob", 0, 10) == [entry("bob", 3, later, at(200))]
    assert await store.read_inbox_after("alice", 0, 10) == [
        entry("alice", 3, recent, at(100)),
        entry("alice", 4, later, at(200)),
    ]


async def test_count_after_counts_only_retained_entries_of_the_user(store: OutboxStore) -> None:
    await store.add_records(make_records(3, audience=for_users("alice", "bob")))
    await route_pending(store, at(0))
    await store.add_records([make_record(audience=for_users("alice"), created_at=at(50))])
    await route_pending(store, at(100))

    assert [await store.count_after("alice", seq) for seq in range(6)] == [4, 3, 2, 1, 0, 0]
    assert await store.count_after("bob", 0) == 3
    assert await store.count_after("carol", 0) == 0
    await store.trim(at(50))
    assert await store.count_after("alice", 0) == 1
    assert await store.count_after("alice", 1) == 1
    assert await store.count_after("bob", 0) == 0
    assert await store.head("alice") == 4


async def test_trim_keeps_entries_routed_exactly_at_before(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    await route_pending(store, at(100))

    assert await store.trim(at(100)) == 0
    assert await store.read_inbox_after("alice", 0, 10) == [entry("alice", 1, record, at(100))]
    assert await store.trim(at(100, microseconds=1000)) == 1
    assert await store.read_inbox_after("alice", 0, 10) == []
    assert await store.head("alice") == 1


async def test_trim_compares_to_the_microsecond(store: OutboxStore) -> None:
    record = make_record()
    await store.add_records([record])
    routed_at = at(100, microseconds=400)
    await route_pending(store, routed_at)

    assert await store.trim(routed_at) == 0
    assert await store.trim(at(100, microseconds=900)) == 1


async def test_trim_of_nothing_deletes_nothing(store: OutboxStore) -> None:
    assert await store.trim(at(1000)) == 0


# --- concurrency (SQLite: two stores on one database file) -----------------------------------


@pytest.fixture
async def sqlite_pair(sqlite_path: Path) -> AsyncIterator[tuple[OutboxStore, OutboxStore]]:
    """Two independently opened stores on one migrated SQLite file."""
    from outbox.stores.sqlite.schema import apply_sqlite
    from outbox.stores.sqlite.store import SqliteStore

    apply_sqlite(sqlite_path)
    first = await SqliteStore.open(sqlite_path)
    second = await SqliteStore.open(sqlite_path)
    yield first, second
    await first.close()
    await second.close()


async def watch_acks(store: OutboxStore, reads: int) -> list[int]:
    seen = []
    for _ in range(reads):
        seen.append(await store.acked("alice", "default"))
    return seen


async def test_racing_acks_keep_the_maximum(
    sqlite_pair: tuple[OutboxStore, OutboxStore],
) -> None:
    first, second = sqlite_pair
    await first.add_records(make_records(40))
    assert len(await route_pending(first, T0)) == 40
    seqs = list(range(1, 41))
    random.Random(7).shuffle(seqs)

    acks = asyncio.gather(
        *((first, second)[i % 2].record_ack("alice", "default", seq) for i, seq in enumerate(seqs))
    )
    outcomes, seen = await asyncio.gather(acks, watch_acks(second, 40))

    assert await first.acked("alice", "default") == 40
    assert await second.acked("alice", "default") == 40
    assert seen == sorted(seen), "a stored ack moved back"
    by_seq = dict(zip(seqs, outcomes, strict=True))
    assert by_seq[40] is AckOutcome.STORED
    assert set(outcomes) <= {AckOutcome.STORED, AckOutcome.STALE}


async def test_racing_equal_acks_store_once(
    sqlite_pair: tuple[OutboxStore, OutboxStore],
) -> None:
    first, second = sqlite_pair
    await first.add_records(make_records(5))
    await route_pending(first, T0)

    outcomes = await asyncio.gather(
        *((first, second)[i % 2].record_ack("alice", "default", 5) for i in range(10))
    )

    assert outcomes.count(AckOutcome.STORED) == 1
    assert outcomes.count(AckOutcome.UNCHANGED) == 9
    assert await first.acked("alice", "default") == 5


async def test_racing_claims_give_the_batch_to_one_owner(
    sqlite_pair: tuple[OutboxStore, OutboxStore],
) -> None:
    first, second = sqlite_pair
    records = make_records(3)
    await first.add_records(records)

    for round_ in range(10):
        now = at(round_)
        got_a, got_b = await asyncio.gather(
            first.claim_batch(A, now, LEASE, 10), second.claim_batch(B, now, LEASE, 10)
        )
        assert sorted([got_a, got_b], key=len) == [[], records], round_
        winner, loser = (A, B) if got_a else (B, A)
        with pytest.raises(LeaseLost):
            await second.append_to_inbox(loser, now, routes_for(records))
        await first.release_lease(winner)

    assert await first.head("alice") == 0


async def test_racing_batches_keep_seqs_gap_free(
    sqlite_pair: tuple[OutboxStore, OutboxStore],
) -> None:
    first, second = sqlite_pair
    records = make_records(12, audience=for_users("alice", "bob"))
    await first.add_records(records)
    await route_pending(first, T0, limit=4)
    stale = await first.claim_batch(A, at(1), LEASE, 4)

    # B takes over after A's lease expired, while A still tries to route its last claim.
    taken = await second.claim_batch(B, at(LEASE + 5), LEASE, 100)
    assert taken == records[4:]
    results = await asyncio.gather(
        first.append_to_inbox(A, at(LEASE + 5), routes_for(stale)),
        second.append_to_inbox(B, at(LEASE + 5), routes_for(taken)),
        return_exceptions=True,
    )

    assert isinstance(results[0], LeaseLost)
    assert not isinstance(results[1], BaseException)
    assert len(results[1]) == 16
    for user in ("alice", "bob"):
        inbox = await first.read_inbox_after(user, 0, 100)
        assert [e.seq for e in inbox] == list(range(1, 13))
        assert [e.notification.id for e in inbox] == [r.notification_id for r in records]
