"""The pure rules behind G2 and G3, without a store."""

from datetime import UTC, datetime

import pytest

from outbox.records import AckOutcome, Notification, Route, Users
from outbox.sequencing import ack_outcome, batch_bodies, heads_after, plan_entries
from tests.contract.builders import make_record

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def route(*users: str, dedup_key: str | None = None, data: dict[str, int] | None = None) -> Route:
    record = make_record(audience=Users(users), dedup_key=dedup_key, data=data or {})
    return Route(record, users)


def test_seqs_continue_from_heads_in_route_then_recipient_order() -> None:
    routes = [route("a", "b"), route("b"), route("a", "c")]
    bodies, _ = batch_bodies(routes, {})
    entries = plan_entries(routes, bodies, set(), {"a": 4}, NOW)
    assert [(e.user_id, e.seq) for e in entries] == [
        ("a", 5),
        ("b", 1),
        ("b", 2),
        ("a", 6),
        ("c", 1),
    ]
    assert heads_after(entries) == {"a": 6, "b": 2, "c": 1}
    assert {e.routed_at for e in entries} == {NOW}


def test_held_and_repeated_pairs_are_skipped_without_a_gap() -> None:
    first, again = route("a", "b", dedup_key="k"), route("a", "b", "c", dedup_key="k")
    bodies, new = batch_bodies([first, again], {})
    assert len(new) == 1
    held = {("a", first.record.notification_id)}
    entries = plan_entries([first, again], bodies, held, {"a": 1}, NOW)
    assert [(e.user_id, e.seq) for e in entries] == [("b", 1), ("c", 1)]


def test_a_stored_body_wins_over_the_routes() -> None:
    repeat = route("a", dedup_key="k", data={"v": 2})
    stored = Notification(repeat.record.notification_id, "e", {"v": 1}, NOW)
    bodies, new = batch_bodies([repeat], {stored.id: stored})
    assert new == [] and bodies[stored.id].data == {"v": 1}
    assert plan_entries([repeat], bodies, set(), {}, NOW)[0].notification.data == {"v": 1}


@pytest.mark.parametrize(
    ("stored", "head", "seq", "outcome"),
    [
        (3, 5, 3, AckOutcome.UNCHANGED),
        (3, 5, 2, AckOutcome.STALE),
        (3, 5, 6, AckOutcome.ABOVE_HEAD),
        (3, 5, 5, AckOutcome.STORED),
        (0, 0, 0, AckOutcome.UNCHANGED),
        (0, 0, 1, AckOutcome.ABOVE_HEAD),
    ],
)
def test_ack_outcomes(stored: int, head: int, seq: int, outcome: AckOutcome) -> None:
    assert ack_outcome(stored, head, seq) is outcome
