"""Every refusal of an emit, decided before anything is written."""

from datetime import UTC, datetime
from typing import Any

import pytest

from api_hooks import EmitRefused, Everyone, Group, Users, build_record
from outbox.records import OutboxRecord, notification_id_for

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def build(**overrides: Any) -> OutboxRecord:
    arguments: dict[str, Any] = {
        "event": "sbd_tokens_received",
        "data": {"amount": 5},
        "to": Users(("bob",)),
        "now": NOW,
    }
    arguments.update(overrides)
    return build_record(**arguments)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"event": ""}, "invalid_event"),
        ({"event": "Family_joined"}, "invalid_event"),
        ({"event": "9lives"}, "invalid_event"),
        ({"event": "a" * 65}, "invalid_event"),
        ({"event": "has space"}, "invalid_event"),
        ({"event": 3}, "invalid_event"),
        ({"data": ["not", "an", "object"]}, "invalid_data"),
        ({"data": "text"}, "invalid_data"),
        ({"data": {"when": NOW}}, "invalid_data"),
        ({"data": {"x": float("nan")}}, "invalid_data"),
        ({"data": {1: "non-string key"}}, "invalid_data"),
        ({"data": {"blob": "x" * (64 * 1024)}}, "data_too_large"),
        ({"to": Users(())}, "empty_audience"),
        ({"to": Users(("",))}, "invalid_audience"),
        ({"to": Users((7,))}, "invalid_audience"),
        ({"to": Group("", "f1")}, "invalid_audience"),
        ({"to": Group("family", "")}, "invalid_audience"),
        ({"to": ("bob",)}, "invalid_audience"),
        ({"to": "bob"}, "invalid_audience"),
        ({"dedup_key": ""}, "invalid_dedup_key"),
        ({"dedup_key": "k" * 257}, "invalid_dedup_key"),
        ({"origin_session": 5}, "invalid_origin_session"),
    ],
)
def test_refusals_have_stable_codes(overrides: dict[str, object], code: str) -> None:
    with pytest.raises(EmitRefused) as refused:
        build(**overrides)
    assert refused.value.code == code
    assert str(refused.value)


def test_data_at_the_limit_is_accepted() -> None:
    # {"blob":"..."} is 11 bytes of framing around the string.
    record = build(data={"blob": "x" * (64 * 1024 - 11)})
    assert len(record.data["blob"]) == 64 * 1024 - 11


def test_record_carries_the_emit() -> None:
    record = build(to=Users(("bob", "alice", "bob")), origin_session="s1", data={"t": (1, 2)})
    assert record.event == "sbd_tokens_received"
    assert record.audience == Users(("bob", "alice"))
    assert record.data == {"t": [1, 2]}
    assert record.created_at == NOW
    assert record.origin_session == "s1"
    assert record.notification_id == record.id


def test_dedup_key_fixes_the_notification_id() -> None:
    first = build(dedup_key="transfer-42")
    second = build(dedup_key="transfer-42")
    assert first.id != second.id
    assert first.notification_id == second.notification_id
    assert first.notification_id == notification_id_for("transfer-42", "unused")


def test_everyone_and_group_are_kept() -> None:
    assert build(to=Everyone()).audience == Everyone()
    assert build(to=Group("family", "f1")).audience == Group("family", "f1")
