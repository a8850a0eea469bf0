"""The storage port's inbox-state contract (protocol v2), run unchanged against every adapter.

Assertions come from the docstrings of the v2 methods of :class:`outbox.port.OutboxStore`.
The property test at the end runs a random mix of emits, marks, retractions and trims and
checks, after every step, that the stored counts equal a recount of what the store holds, that
positions and seqs have no gap, and that a device following the stream shows what the store
holds; the embedded store runs many seeds, MongoDB (slow test double) a few short ones.
"""

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from outbox.port import OutboxStore
from outbox.records import AckOutcome, OutboxRecord, Users
from outbox.stream import (
    ChangeOp,
    Counts,
    ItemFilter,
    ItemState,
    Mark,
    MarkOutcome,
    StreamChange,
    StreamHead,
    StreamNotification,
)
from tests.contract.builders import at, for_users, make_record, make_retract, routes_for
from tests.stream_view import DeviceView

LEASE = 30.0
OWNER = "router"
ALL = ItemFilter(retracted=None)


async def route(store: OutboxStore, records: list[OutboxRecord], now: datetime) -> None:
    """Add and route ``records`` as the worker does, in one batch."""
    await store.add_records(records)
    claimed = await store.claim_batch(OWNER, now, LEASE, 1000)
    await store.append_routes(OWNER, now, routes_for(claimed))


async def emit(store: OutboxStore, count: int = 1, *users: str, key: str | None = None) -> None:
    audience = for_users(*(users or ("alice",)))
    records = [
        make_record(audience=audience, data={"i": i}, collapse_key=key, created_at=at(i))
        for i in range(count)
    ]
    await route(store, records, at(0))


async def states(store: OutboxStore, user: str = "alice") -> dict[int, ItemState]:
    return {item.entry.seq: item.state for item in await store.list_items(user, 0, 1000, ALL)}


async def recount(store: OutboxStore, user: str) -> Counts:
    """The counts, recounted from the notifications the store holds."""
    live = [state for state in (await states(store, user)).values() if not state.retracted]
    return Counts(sum(not s.read for s in live), sum(not s.archived for s in live))


# --- positions ---------------------------------------------------------------------------


async def test_a_new_user_is_at_zero(store: OutboxStore) -> None:
    assert await store.stream_head("nobody") == StreamHead(0, 0, Counts(0, 0))
    assert await store.read_stream_after("nobody", 0, 10) == []


async def test_notifications_take_positions_and_counts(store: OutboxStore) -> None:
    await emit(store, 2, "alice", "bob")

    stream = await store.read_stream_after("alice", 0, 10)
    assert [
        (i.pos, i.entry.seq, i.counts) for i in stream if isinstance(i, StreamNotification)
    ] == [
        (1, 1, Counts(1, 1)),
        (2, 2, Counts(2, 2)),
    ]
    assert await store.stream_head("alice") == StreamHead(2, 2, Counts(2, 2))
    assert await store.stream_head("bob") == StreamHead(2, 2, Counts(2, 2))


async def test_append_routes_returns_the_stream_entries_beside_the_v1_entries(
    store: OutboxStore,
) -> None:
    records = [
        make_record(audience=for_users("alice", "bob"), data={"i": i}, created_at=at(i))
        for i in range(2)
    ]
    await store.add_records(records)
    claimed = await store.claim_batch(OWNER, at(0), LEASE, 10)

    appended = await store.append_routes(OWNER, at(0), routes_for(claimed))

    assert [(e.user_id, e.seq) for e in appended.entries] == [
        ("alice", 1),
        ("bob", 1),
        ("alice", 2),
        ("bob", 2),
    ]
    placed = [item for item in appended.stream if isinstance(item, StreamNotification)]
    assert [p.entry for p in placed] == appended.entries
    assert [p.pos for p in placed] == [1, 1, 2, 2]


# --- marks -------------------------------------------------------------------------------


async def test_marking_read_appends_a_change_and_moves_the_counts(store: OutboxStore) -> None:
    await emit(store, 3)

    result = await store.apply_mark("alice", Mark(ChangeOp.READ, (1, 3)), at(5))

    assert result.outcome is MarkOutcome.APPLIED
    assert result.change == StreamChange(
        "alice", 4, ChangeOp.READ, (1, 3), None, Counts(1, 3), at(5)
    )
    assert result.head == StreamHead(4, 3, Counts(1, 3))
    assert await store.stream_head("alice") == result.head
    assert (await store.read_stream_after("alice", 3, 10)) == [result.change]
    assert (await states(store))[1] == ItemState(read=True)
    assert (await states(store))[2] == ItemState()


async def test_a_mark_changes_no_seq_and_nothing_a_v1_reader_sees(store: OutboxStore) -> None:
    await emit(store, 2)
    before = await store.read_inbox_after("alice", 0, 10)

    await store.apply_mark("alice", Mark(ChangeOp.ARCHIVE, upto=2), at(1))
    await emit(store, 1)

    assert await store.head("alice") == 3
    after = await store.read_inbox_after("alice", 0, 10)
    assert after[:2] == before
    assert [e.seq for e in after] == [1, 2, 3]
    assert (await store.stream_head("alice")).pos == 4


async def test_mark_all_up_to_a_seq(store: OutboxStore) -> None:
    await emit(store, 4)
    await store.apply_mark("alice", Mark(ChangeOp.READ, (2,)), at(1))

    result = await store.apply_mark("alice", Mark(ChangeOp.READ, upto=3), at(2))

    assert result.change is not None
    assert (result.change.seqs, result.change.upto) == ((), 3)
    assert result.change.counts == Counts(1, 4)
    assert {seq: s.read for seq, s in (await states(store)).items()} == {
        1: True,
        2: True,
        3: True,
        4: False,
    }


async def test_a_mark_that_changes_nothing_appends_nothing(store: OutboxStore) -> None:
    await emit(store, 2)
    await store.apply_mark("alice", Mark(ChangeOp.READ, (1,)), at(1))

    again = await store.apply_mark("alice", Mark(ChangeOp.READ, (1,)), at(2))
    unread_twice = await store.apply_mark("alice", Mark(ChangeOp.UNARCHIVE, upto=2), at(2))

    assert again.outcome is unread_twice.outcome is MarkOutcome.UNCHANGED
    assert again.change is None
    assert again.head == StreamHead(3, 2, Counts(1, 2))
    assert (await store.stream_head("alice")).pos == 3


async def test_a_mark_above_the_head_is_refused_and_stores_nothing(store: OutboxStore) -> None:
    await emit(store, 2)

    for mark in (Mark(ChangeOp.READ, (1, 3)), Mark(ChangeOp.ARCHIVE, upto=3)):
        result = await store.apply_mark("alice", mark, at(1))
        assert result.outcome is MarkOutcome.ABOVE_HEAD

    assert await states(store) == {1: ItemState(), 2: ItemState()}
    assert (await store.stream_head("alice")).pos == 2


async def test_unread_and_unarchive_undo(store: OutboxStore) -> None:
    await emit(store, 2)
    await store.apply_mark("alice", Mark(ChangeOp.READ, upto=2), at(1))
    await store.apply_mark("alice", Mark(ChangeOp.ARCHIVE, (2,)), at(1))

    unread = await store.apply_mark("alice", Mark(ChangeOp.UNREAD, (2,)), at(2))
    unarchived = await store.apply_mark("alice", Mark(ChangeOp.UNARCHIVE, upto=2), at(2))

    assert unread.head.counts == Counts(1, 1)
    assert unarchived.head.counts == Counts(1, 2)
    assert await states(store) == {1: ItemState(read=True), 2: ItemState()}


async def test_marks_are_per_user(store: OutboxStore) -> None:
    await emit(store, 2, "alice", "bob")

    await store.apply_mark("alice", Mark(ChangeOp.READ, upto=2), at(1))

    assert (await store.stream_head("bob")) == StreamHead(2, 2, Counts(2, 2))
    assert all(not state.read for state in (await states(store, "bob")).values())


# --- collapse keys and retraction --------------------------------------------------------


async def test_a_collapse_key_replaces_the_previous_notification_per_recipient(
    store: OutboxStore,
) -> None:
    await emit(store, 1, "alice", "bob", key="invite:7")
    await store.apply_mark("bob", Mark(ChangeOp.READ, (1,)), at(1))

    await emit(store, 1, "alice", "bob", key="invite:7")

    alice = await store.read_stream_after("alice", 1, 10)
    assert [(i.pos, i.entry.seq, i.replaces, i.counts) for i in alice] == [  # type: ignore[union-attr]
        (2, 2, 1, Counts(1, 1))
    ]
    assert await states(store) == {1: ItemState(retracted=True), 2: ItemState()}
    # bob had read the first one: his unread count goes up by one, unarchived stays.
    assert (await store.stream_head("bob")).counts == Counts(1, 1)
    assert [e.seq for e in await store.read_inbox_after("alice", 0, 10)] == [1, 2]


async def test_a_retraction_reaches_every_holder_and_adjusts_their_counts(
    store: OutboxStore,
) -> None:
    await emit(store, 1, "alice", "bob", key="token-request:3")
    await emit(store, 1, "alice")

    await route(store, [make_retract("token-request:3")], at(9))

    for user, head in (("alice", StreamHead(3, 2, Counts(1, 1))), ("bob", StreamHead(2, 1))):
        assert await store.stream_head(user) == head
        [change] = await store.read_stream_after(user, head.pos - 1, 10)
        assert change == StreamChange(
            user, head.pos, ChangeOp.RETRACT, (1,), None, head.counts, at(9)
        )
        assert (await states(store, user))[1] == ItemState(retracted=True)
    assert len(await store.read_inbox_after("bob", 0, 10)) == 1  # v1 still has it


async def test_a_retraction_to_some_users_leaves_the_others(store: OutboxStore) -> None:
    await emit(store, 1, "alice", "bob", key="k")

    await route(store, [make_retract("k", audience=Users(("bob",)))], at(1))

    assert (await store.stream_head("alice")).pos == 1
    assert (await states(store, "bob"))[1].retracted


async def test_a_retraction_of_a_key_nobody_holds_appends_nothing(store: OutboxStore) -> None:
    await emit(store, 1)

    await route(store, [make_retract("unknown"), make_retract("k")], at(1))

    assert await store.stream_head("alice") == StreamHead(1, 1, Counts(1, 1))
    assert await store.lag() == (await store.lag()).__class__(0, 0, None)


async def test_emit_then_retract_in_one_batch(store: OutboxStore) -> None:
    note = make_record(audience=for_users("alice"), collapse_key="k")
    await route(store, [note, make_retract("k", created_at=at(1))], at(2))

    assert await store.stream_head("alice") == StreamHead(2, 1, Counts(0, 0))
    assert (await states(store)) == {1: ItemState(retracted=True)}


async def test_marks_leave_retracted_notifications_alone(store: OutboxStore) -> None:
    await emit(store, 1, key="k")
    await emit(store, 1, key="k")

    result = await store.apply_mark("alice", Mark(ChangeOp.READ, (1,)), at(1))
    everything = await store.apply_mark("alice", Mark(ChangeOp.READ, upto=2), at(1))

    assert result.outcome is MarkOutcome.UNCHANGED
    assert everything.change is not None and everything.head.counts == Counts(0, 1)
    assert (await states(store))[1] == ItemState(retracted=True)


# --- listings ----------------------------------------------------------------------------


async def test_listings_filter_by_state_and_event(store: OutboxStore) -> None:
    records = [
        make_record(audience=for_users("alice"), event=event, data={"i": i}, created_at=at(i))
        for i, event in enumerate(["a_thing", "b_thing", "a_thing", "c_thing"])
    ]
    await route(store, records, at(0))
    await store.apply_mark("alice", Mark(ChangeOp.READ, (1, 2)), at(1))
    await store.apply_mark("alice", Mark(ChangeOp.ARCHIVE, (3,)), at(1))

    async def seqs(chosen: ItemFilter, after: int = 0, limit: int = 10) -> list[int]:
        return [i.entry.seq for i in await store.list_items("alice", after, limit, chosen)]

    assert await seqs(ItemFilter()) == [1, 2, 3, 4]
    assert await seqs(ItemFilter(read=False)) == [3, 4]
    assert await seqs(ItemFilter(read=True)) == [1, 2]
    assert await seqs(ItemFilter(archived=False)) == [1, 2, 4]
    assert await seqs(ItemFilter(archived=True)) == [3]
    assert await seqs(ItemFilter(events=("a_thing",))) == [1, 3]
    assert await seqs(ItemFilter(events=("a_thing", "c_thing"), read=False)) == [3, 4]
    assert await seqs(ItemFilter(), after=2, limit=1) == [3]
    items = await store.list_items("alice", 0, 10, ItemFilter(archived=True))
    assert [(i.pos, i.state) for i in items] == [(3, ItemState(archived=True))]


async def test_listings_hide_retracted_unless_asked(store: OutboxStore) -> None:
    await emit(store, 1, key="k")
    await emit(store, 1, key="k")

    listed = await store.list_items("alice", 0, 10, ItemFilter())
    assert [(i.entry.seq, i.replaces) for i in listed] == [(2, 1)]
    retracted = await store.list_items("alice", 0, 10, ItemFilter(retracted=True))
    assert [i.entry.seq for i in retracted] == [1]
    assert len(await store.list_items("alice", 0, 10, ALL)) == 2


# --- stream acks -------------------------------------------------------------------------


async def test_stream_acks_are_kept_apart_from_v1_acks(store: OutboxStore) -> None:
    await emit(store, 2)
    await store.apply_mark("alice", Mark(ChangeOp.READ, (1,)), at(1))

    assert await store.record_stream_ack("alice", "phone", 3) is AckOutcome.STORED
    assert await store.record_stream_ack("alice", "phone", 3) is AckOutcome.UNCHANGED
    assert await store.record_stream_ack("alice", "phone", 2) is AckOutcome.STALE
    assert await store.record_stream_ack("alice", "phone", 4) is AckOutcome.ABOVE_HEAD
    assert await store.stream_acked("alice", "phone") == 3
    assert await store.acked("alice", "phone") == 0
    assert await store.record_ack("alice", "phone", 3) is AckOutcome.ABOVE_HEAD  # v1 head is 2
    assert await store.stream_acked("alice", "laptop") == 0


# --- retention ---------------------------------------------------------------------------


async def test_a_trim_appends_trim_changes_and_drops_the_counts(store: OutboxStore) -> None:
    await route(
        store, [make_record(audience=for_users("alice"), data={"i": i}) for i in range(3)], at(0)
    )
    await store.apply_mark("alice", Mark(ChangeOp.READ, (1,)), at(1))
    await route(store, [make_record(audience=for_users("alice"))], at(100))

    report = await store.trim_stream(at(50), at(200))

    assert report.deleted == 3
    assert report.changes == (
        StreamChange("alice", 6, ChangeOp.TRIM, (1, 2, 3), None, Counts(1, 1), at(200)),
    )
    assert await store.stream_head("alice") == StreamHead(6, 4, Counts(1, 1))
    stream = await store.read_stream_after("alice", 0, 10)
    # The read change (made at 1) went with the entries; the late entry and the trim stay.
    assert [item.pos for item in stream] == [5, 6]
    assert await store.head("alice") == 4


async def test_a_trim_without_old_notifications_appends_nothing(store: OutboxStore) -> None:
    await emit(store, 1)
    await store.apply_mark("alice", Mark(ChangeOp.READ, (1,)), at(-10))

    report = await store.trim_stream(at(-5), at(1))

    assert report.deleted == 0 and report.changes == ()
    assert [item.pos for item in await store.read_stream_after("alice", 0, 10)] == [1]


async def test_read_stream_merges_notifications_and_changes_and_limits(
    store: OutboxStore,
) -> None:
    await emit(store, 1)
    await store.apply_mark("alice", Mark(ChangeOp.READ, (1,)), at(1))
    await emit(store, 1)
    await store.apply_mark("alice", Mark(ChangeOp.ARCHIVE, (2,)), at(1))

    assert [i.pos for i in await store.read_stream_after("alice", 0, 10)] == [1, 2, 3, 4]
    assert [i.pos for i in await store.read_stream_after("alice", 1, 2)] == [2, 3]
    assert await store.read_stream_after("alice", 4, 10) == []
    assert await store.read_stream_after("alice", 0, 0) == []


# --- the property: counts equal a recount after every step -------------------------------

USERS = ("ann", "bob", "cy")
KEYS = ("k1", "k2")


class Run:
    """One random run: the store, a device per user following along, the time."""

    def __init__(self, store: OutboxStore, rng: random.Random) -> None:
        self.store = store
        self.rng = rng
        self.step_no = 0
        self.devices = {user: DeviceView() for user in USERS}
        self.v1_positions = dict.fromkeys(USERS, 0)

    async def start(self) -> None:
        """Devices start where the streams are (positions continue across seeds)."""
        for user in USERS:
            head = await self.store.stream_head(user)
            self.devices[user] = DeviceView(position=head.pos, counts=head.counts)
            self.v1_positions[user] = head.seq

    def now(self) -> datetime:
        return at(self.step_no * 10)

    async def step(self) -> str:
        self.step_no += 1
        choice = self.rng.random()
        if choice < 0.4:
            return await self.emit()
        if choice < 0.75:
            return await self.mark()
        if choice < 0.88:
            return await self.retract()
        before = at((self.step_no - self.rng.randint(1, 8)) * 10)
        await self.store.trim_stream(before, self.now())
        return f"trim before {before}"

    async def emit(self) -> str:
        records = []
        for i in range(self.rng.randint(1, 3)):
            users = tuple(self.rng.sample(USERS, self.rng.randint(1, len(USERS))))
            key = self.rng.choice((None, None, *KEYS))
            created = at(self.step_no * 10, microseconds=i)
            record = make_record(audience=Users(users), data={"i": i}, collapse_key=key)
            records.append(replace(record, created_at=created))
        await route(self.store, records, self.now())
        return f"emit {[(r.audience, r.collapse_key) for r in records]}"

    async def mark(self) -> str:
        user = self.rng.choice(USERS)
        head = (await self.store.stream_head(user)).seq
        op = self.rng.choice((ChangeOp.READ, ChangeOp.UNREAD, ChangeOp.ARCHIVE, ChangeOp.UNARCHIVE))
        if head == 0:
            return "nothing to mark"
        if self.rng.random() < 0.3:
            mark = Mark(op, upto=self.rng.randint(0, head))
        else:
            mark = Mark(
                op, tuple(self.rng.sample(range(1, head + 1), self.rng.randint(1, min(4, head))))
            )
        result = await self.store.apply_mark(user, mark, self.now())
        assert result.outcome is not MarkOutcome.ABOVE_HEAD
        return f"{user} {mark}"

    async def retract(self) -> str:
        key = self.rng.choice(KEYS)
        users = self.rng.choice((None, tuple(self.rng.sample(USERS, 1))))
        audience = None if users is None else Users(users)
        await route(self.store, [make_retract(key, audience=audience)], self.now())
        return f"retract {key} from {users or 'everyone'}"

    async def check(self, what: str) -> None:
        for user in USERS:
            head = await self.store.stream_head(user)
            assert head.counts == await recount(self.store, user), what
            device = self.devices[user]
            for item in await self.store.read_stream_after(user, device.position, 10_000):
                device.apply(item)  # strict: no gap in positions
            assert device.position == head.pos, what
            assert device.counts == head.counts, what
            assert device.items == await states(self.store, user), what
            assert device.counted() == head.counts, what
            seqs = [
                e.seq
                for e in await self.store.read_inbox_after(user, self.v1_positions[user], 10_000)
            ]
            assert seqs == list(range(self.v1_positions[user] + 1, head.seq + 1)), what
            self.v1_positions[user] = head.seq

    async def late_device_converges(self) -> None:
        """A device that resumes from 0 at the end shows the same as the one that followed."""
        for user in USERS:
            late = DeviceView(strict=False)
            for item in await self.store.read_stream_after(user, 0, 10_000):
                late.apply(item)
            assert late.items == self.devices[user].items
            assert late.counts == self.devices[user].counts or late.position == 0


async def run_random(store: OutboxStore, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    run = Run(store, rng)
    await run.start()
    for _ in range(steps):
        what = await run.step()
        await run.check(f"seed {seed}, step {run.step_no}: {what}")
    await run.late_device_converges()


@pytest.mark.parametrize("block", range(4))
async def test_counts_equal_a_recount_after_every_step(
    store: OutboxStore, block: int, request: pytest.FixtureRequest
) -> None:
    on_mongo = "mongo" in request.node.callspec.id
    if on_mongo and block:
        pytest.skip("one short block on the slow MongoDB double")
    seeds, steps = (2, 20) if on_mongo else (12, 40)
    for seed in range(block * 1000, block * 1000 + seeds):
        await run_random(store, seed, steps)
        await reset(store)


async def reset(store: OutboxStore) -> None:
    """Trim everything, so the next seed starts from empty streams (positions continue)."""
    await store.trim_stream(at(10**6), at(10**6))


# --- concurrency (SQLite: two stores on one database file) -------------------------------


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


async def test_racing_marks_and_routing_keep_positions_gap_free_and_counts_exact(
    sqlite_pair: tuple[OutboxStore, OutboxStore],
) -> None:
    first, second = sqlite_pair
    await emit(first, 20)
    rng = random.Random(3)

    async def marks() -> None:
        for _ in range(30):
            op = rng.choice((ChangeOp.READ, ChangeOp.UNREAD, ChangeOp.ARCHIVE))
            await second.apply_mark("alice", Mark(op, (rng.randint(1, 20),)), at(1))

    async def routing() -> None:
        for i in range(10):
            await route(first, [make_record(data={"i": i}, created_at=at(i))], at(2))

    await asyncio.gather(marks(), routing())

    device = DeviceView()
    for item in await first.read_stream_after("alice", 0, 1000):
        device.apply(item)  # strict: positions 1, 2, 3, ... with no gap
    head = await first.stream_head("alice")
    assert device.position == head.pos and head.seq == 30
    assert head.counts == await recount(first, "alice") == device.counted()
