"""The pure rules of inbox state: placing a routing batch on the streams, marks, trims."""

import random
from datetime import UTC, datetime

from foundation.constants import RETRACT
from outbox.records import Everyone, InboxEntry, Notification, OutboxRecord, Route, Users
from outbox.sequencing import batch_bodies, heads_after, plan_entries
from outbox.state_rules import (
    Holding,
    UserStream,
    mark_change,
    plan_plain,
    plan_stream,
    plan_trim,
)
from outbox.stream import ChangeOp, Counts, ItemState, Mark

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def record(record_id: str, key: str | None = None, kind: str = "notify") -> OutboxRecord:
    audience = Everyone() if kind == RETRACT else Users(("ann",))
    return OutboxRecord(record_id, record_id, "e", {}, audience, NOW, kind=kind, collapse_key=key)


def entry(user: str, seq: int, notification_id: str) -> InboxEntry:
    return InboxEntry(user, seq, Notification(notification_id, "e", {}, NOW), NOW)


def test_entries_take_the_next_positions_and_collapse_within_the_batch() -> None:
    first, second = record("n1", "k"), record("n2", "k")
    entries = [entry("ann", 4, "n1"), entry("ann", 5, "n2")]
    held = {("ann", "k"): Holding("ann", 2, read=True)}

    plan = plan_stream(
        [Route(first, ("ann",)), Route(second, ("ann",))],
        entries,
        {"ann": UserStream(pos=9, unread=3, unarchived=5)},
        held,
        NOW,
    )

    assert [(p.pos, p.replaces, p.counts) for p in plan.notifications] == [
        (10, 2, Counts(4, 5)),  # the read holder stops counting as unarchived only
        (11, 4, Counts(4, 5)),
    ]
    assert [(h.user_id, h.seq) for h in plan.retracted] == [("ann", 2), ("ann", 4)]
    assert plan.users == {"ann": UserStream(11, 4, 5)}
    assert plan.collapse_keys == ["k", "k"]


def test_a_retraction_of_everyone_reaches_every_holder_in_user_order() -> None:
    held = {("bob", "k"): Holding("bob", 1), ("ann", "k"): Holding("ann", 3, archived=True)}

    users = {"ann": UserStream(5, 1, 1), "bob": UserStream(2, 1, 1)}

    plan = plan_stream([Route(record("r", "k", RETRACT), ())], [], users, held, NOW)

    assert [(c.user_id, c.pos, c.op, c.seqs, c.counts) for c in plan.changes] == [
        ("ann", 6, ChangeOp.RETRACT, (3,), Counts(0, 1)),  # it was archived: unarchived stays
        ("bob", 3, ChangeOp.RETRACT, (1,), Counts(0, 0)),
    ]


def test_a_repeated_route_places_its_entries_once() -> None:
    note = record("n1")
    plan = plan_stream(
        [Route(note, ("ann",)), Route(note, ("ann",))], [entry("ann", 1, "n1")], {}, {}, NOW
    )
    assert [p.pos for p in plan.notifications] == [1]


def test_marks_move_the_counts_by_what_they_changed() -> None:
    user = UserStream(4, 3, 3)
    change, after = mark_change("ann", Mark(ChangeOp.ARCHIVE, (1, 2)), [2, 1], user, NOW)
    assert (change.pos, change.seqs, change.counts) == (5, (1, 2), Counts(3, 1))
    unread, _ = mark_change("ann", Mark(ChangeOp.UNREAD, upto=9), [0, 0], after, NOW)
    assert (unread.seqs, unread.upto, unread.counts) == ((), 9, Counts(5, 1))


def test_trims_name_at_most_a_thousand_seqs_each_and_drop_what_counted() -> None:
    gone = [(seq, ItemState(read=seq % 2 == 0)) for seq in range(1, 1502)]
    gone.append((2000, ItemState(retracted=True)))
    changes, after = plan_trim({"ann": gone}, {"ann": UserStream(3000, 900, 1600)}, NOW)
    assert [(c.pos, len(c.seqs)) for c in changes] == [(3001, 1000), (3002, 502)]
    assert changes[-1].seqs[-1] == 2000
    assert after["ann"] == UserStream(3002, 900 - 751, 1600 - 1501)


def test_the_one_pass_plan_is_the_general_plan_for_batches_without_keys() -> None:
    rng = random.Random(15)
    users = [f"u{index}" for index in range(6)]
    for _ in range(300):
        routes = []
        for _ in range(rng.randint(1, 8)):
            # Repeated notification ids (a dedup key emitted twice) and repeated recipients.
            note = rng.choice(["n1", "n2", "n3", f"n{rng.randint(4, 99)}"])
            recipients = tuple(dict.fromkeys(rng.choices(users, k=rng.randint(0, 4))))
            routes.append(Route(record(note), recipients))
        bodies, _ = batch_bodies(routes, {})
        held = {(user, "n1") for user in users if rng.random() < 0.3}
        counters = {
            user: (rng.randint(0, 9), rng.randint(0, 20), rng.randint(0, 5), rng.randint(0, 5))
            for user in users
            if rng.random() < 0.7
        }
        heads = {user: row[0] for user, row in counters.items()}
        streams = {user: UserStream(*row[1:]) for user, row in counters.items()}

        entries = plan_entries(routes, bodies, held, heads, NOW)
        plan = plan_stream(routes, entries, streams, {}, NOW)
        fused = plan_plain(routes, bodies, held, counters, NOW)

        assert fused[0] == entries
        assert fused[1].notifications == plan.notifications
        assert fused[1].collapse_keys == plan.collapse_keys
        assert fused[1].users == plan.users
        assert (fused[1].changes, fused[1].retracted) == ([], [])
        assert fused[2] == heads_after(entries)
