"""One routing round on a real store: audiences, claim order, failures, retries, dead records.

Runs on both stores through the shared ``store`` fixture, one operation at a time. Time is
passed in: later ``now`` values stand for waiting, so nothing sleeps.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from foundation.constants import DEAD, RETRACT
from foundation.errors import LeaseLost
from outbox.port import OutboxStore
from outbox.records import Everyone, Group, OutboxRecord, Users
from outbox.resolvers import Resolvers
from outbox.routing import RoutedBatch, RoutingPolicy, describe_failure, route_once
from outbox.stream import ChangeOp
from tests.worker import TEAMS, make_record
from tests.worker import resolvers as team_resolvers

T0 = datetime(2031, 5, 17, 8, 30, 15, 123457, tzinfo=UTC)
POLICY = RoutingPolicy(
    batch_size=100,
    lease_seconds=5,
    max_attempts=3,
    retry_base_seconds=10.0,
    retry_max_seconds=100.0,
)


async def route(
    store: OutboxStore,
    resolvers: Resolvers,
    now: datetime,
    *,
    owner: str = "w1",
    limit: int = 100,
    **options: Any,
) -> RoutedBatch:
    policy = replace(POLICY, batch_size=limit, **options)
    return await route_once(store, resolvers, owner=owner, now=now, policy=policy)


async def inbox(store: OutboxStore, user: str) -> list[tuple[int, str]]:
    return [(e.seq, e.notification.id) for e in await store.read_inbox_after(user, 0, 1000)]


class Flaky:
    """A group resolver that fails until told to work."""

    def __init__(self) -> None:
        self.working = False
        self.calls = 0

    async def __call__(self, group_id: str) -> list[str]:
        self.calls += 1
        if not self.working:
            raise ConnectionError("cannot reach mongodb://app:s3cret@db.internal/app")
        return ["alice"]


async def test_users_group_and_everyone_are_routed_in_one_round(store: OutboxStore) -> None:
    to_users = make_record(Users(("alice", "bob", "alice")))
    to_team = make_record(Group("team", "t1"))
    to_all = make_record(Everyone())
    to_alice = make_record(Users(("alice",)))
    await store.add_records([to_users, to_team, to_all, to_alice])

    batch = await route(store, team_resolvers, T0)

    assert (batch.claimed, batch.routed, batch.failed) == (4, 4, 0)
    assert batch.broadcasts == (to_all.notification(),)
    assert {(e.user_id, e.seq, e.notification.id) for e in batch.entries} == {
        ("alice", 1, to_users.notification_id),
        ("bob", 1, to_users.notification_id),
        *((user, 1, to_team.notification_id) for user in TEAMS["t1"]),
        ("alice", 2, to_alice.notification_id),
    }
    assert all(e.routed_at == T0 for e in batch.entries)
    assert await inbox(store, "alice") == [(1, to_users.id), (2, to_alice.id)]
    assert (await store.lag()).pending == 0
    assert await route(store, team_resolvers, T0) == RoutedBatch(0, 0, (), (), 0)


async def test_a_round_places_entries_and_retractions_on_the_streams(
    store: OutboxStore,
) -> None:
    invite = replace(make_record(Group("team", "t1")), collapse_key="invite:1")
    await store.add_records([invite])
    first = await route(store, team_resolvers, T0)
    retract = replace(
        make_record(Everyone()), kind=RETRACT, collapse_key="invite:1", event="retract"
    )
    await store.add_records([retract])

    second = await route(store, team_resolvers, T0 + timedelta(seconds=1))

    assert [(i.user_id, i.pos) for i in first.stream] == [(u, 1) for u in TEAMS["t1"]]
    assert (second.claimed, second.routed, second.entries, second.broadcasts) == (1, 1, (), ())
    assert [(c.user_id, c.pos, c.op, c.seqs) for c in second.stream] == [  # type: ignore[union-attr]
        (user, 2, ChangeOp.RETRACT, (1,)) for user in sorted(TEAMS["t1"])
    ]


async def test_rounds_follow_commit_order(store: OutboxStore) -> None:
    records = [make_record(Users(("alice",))) for _ in range(5)]
    for record in records:
        await store.add_records([record])
    claimed = [(await route(store, team_resolvers, T0, limit=2)).claimed for _ in range(4)]
    assert claimed == [2, 2, 1, 0]
    assert await inbox(store, "alice") == [(i + 1, r.id) for i, r in enumerate(records)]


async def test_an_empty_group_routes_nothing_and_is_no_broadcast(store: OutboxStore) -> None:
    async def nobody(_: str) -> list[str]:
        return []

    resolvers = Resolvers()
    resolvers.register("team", nobody)
    await store.add_records([make_record(Group("team", "empty"))])
    batch = await route(store, resolvers, T0)
    assert (batch.routed, batch.entries, batch.broadcasts) == (1, (), ())
    assert (await store.lag()).pending == 0


async def test_a_failing_resolver_is_retried_then_dead_then_requeued(store: OutboxStore) -> None:
    flaky = Flaky()
    resolvers = Resolvers()
    resolvers.register("family", flaky)
    doomed = make_record(Group("family", "f-1"))
    bystander = make_record(Users(("bob",)))
    await store.add_records([doomed, bystander])

    first = await route(store, resolvers, T0)
    assert (first.claimed, first.routed, first.failed) == (2, 1, 1)
    assert await inbox(store, "bob") == [(1, bystander.id)]

    # Hidden until 10 s (base), then 20 s more (doubled); the third failure is the last.
    assert (await route(store, resolvers, T0 + timedelta(seconds=9.9))).claimed == 0
    assert (await route(store, resolvers, T0 + timedelta(seconds=10))).failed == 1
    assert (await route(store, resolvers, T0 + timedelta(seconds=29.9))).claimed == 0
    assert (await route(store, resolvers, T0 + timedelta(seconds=30))).failed == 1
    assert flaky.calls == 3
    assert (await route(store, resolvers, T0 + timedelta(days=1))).claimed == 0

    [dead] = await store.list_dead(10)
    assert (dead.id, dead.status, dead.attempts) == (doomed.id, DEAD, 3)
    assert dead.last_error == "ConnectionError: cannot reach mongodb://***@db.internal/app"
    figures = await store.lag()
    assert (figures.pending, figures.dead) == (0, 1)

    flaky.working = True
    assert await store.requeue_dead(None, T0 + timedelta(days=1)) == 1
    again = await route(store, resolvers, T0 + timedelta(days=1))
    assert (again.claimed, again.routed, again.failed) == (1, 1, 0)
    assert await inbox(store, "alice") == [(1, doomed.id)]
    assert (await store.lag()).dead == 0


async def test_an_unknown_group_kind_counts_as_a_failure(store: OutboxStore) -> None:
    record = make_record(Group("club", "c-1"))
    await store.add_records([record])
    policy = replace(POLICY, batch_size=10, max_attempts=1)
    batch = await route_once(store, Resolvers(), owner="w1", now=T0, policy=policy)
    assert batch.failed == 1
    [dead] = await store.list_dead(10)
    assert dead.last_error == "UnknownGroup: no resolver registered for group kind 'club'"


async def test_a_resolution_budget_leaves_the_rest_pending_in_order(store: OutboxStore) -> None:
    records = [make_record(Users(("alice",))) for _ in range(3)]
    await store.add_records(records)
    rounds = [await route(store, team_resolvers, T0, resolve_budget_seconds=0.0) for _ in range(4)]
    assert [(b.claimed, b.routed) for b in rounds] == [(3, 1), (2, 1), (1, 1), (0, 0)]
    assert await inbox(store, "alice") == [(i + 1, r.id) for i, r in enumerate(records)]


async def test_a_lease_taken_over_mid_round_writes_nothing(store: OutboxStore) -> None:
    async def slow_team(_: str) -> list[str]:
        # Another worker takes over once this one's lease (5 s) has expired.
        assert await store.claim_batch("w2", T0 + timedelta(seconds=6), 5, 1)
        return ["alice"]

    resolvers = Resolvers()
    resolvers.register("team", slow_team)
    record: OutboxRecord = make_record(Group("team", "t1"))
    await store.add_records([record])
    with pytest.raises(LeaseLost):
        await route(store, resolvers, T0, owner="w1")
    assert await inbox(store, "alice") == []
    assert (await store.lag()).pending == 1


def test_failure_descriptions_hide_credentials_and_stay_short() -> None:
    error = RuntimeError("redis://:hunter2@cache:6379/0 and amqp://u:p@mq/ down" + "!" * 900)
    text = describe_failure(error)
    assert "hunter2" not in text and "u:p@" not in text
    assert text.startswith("RuntimeError: redis://***@cache:6379/0 and amqp://***@mq/ down")
    assert len(text) == 500
    assert describe_failure(TimeoutError()) == "TimeoutError"
