"""The fast paths routing takes per record and per entry give what the general ones give."""

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foundation.constants import INBOX
from foundation.errors import StoreError
from outbox import timestamps
from outbox.records import (
    Everyone,
    Group,
    InboxEntry,
    Notification,
    Route,
    Users,
    audience_from_dict,
    audience_to_dict,
    inbox_entry,
    route_of,
    users_of,
)
from outbox.state_rules import (
    NO_STREAM,
    StreamPlan,
    UserStream,
    placed_notification,
    user_stream,
)
from outbox.stores.sqlite.rows import dumps, load_audience
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.stream_routing import INSERT_ENTRY, inbox_rows, insert_entries
from outbox.stream import Counts, StreamNotification
from outbox.timestamps import from_micros, from_micros_memo, to_micros, to_micros_memo
from outbox.worker.ready import known_recipients
from tests.contract.builders import make_record

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
NOTE = Notification("n-1", "event", {"a": 1}, NOW, "session")


def test_builders_make_the_records_the_classes_make() -> None:
    entry = inbox_entry("u", 3, NOTE, NOW)
    assert entry == InboxEntry("u", 3, NOTE, NOW)
    assert type(entry) is InboxEntry
    record = make_record(audience=Users(("u",)))
    assert route_of(record, ("u",)) == Route(record, ("u",))
    assert users_of(("a", "b")) == Users(("a", "b"))
    assert user_stream(4, 2, 1) == UserStream(4, 2, 1)
    assert NO_STREAM == UserStream()
    placed = placed_notification(entry, 7, 2, 5, 3)
    assert placed == StreamNotification(entry, 7, Counts(2, 5), 3)
    assert placed_notification(entry, 7, 2, 5, None) == StreamNotification(entry, 7, Counts(2, 5))
    for built in (entry, route_of(record, ()), users_of(()), user_stream(0, 0, 0), placed):
        with pytest.raises(dataclasses.FrozenInstanceError):
            built.__setattr__(dataclasses.fields(built)[0].name, None)


def test_the_notification_of_a_record_is_its_fields() -> None:
    record = make_record(audience=Users(("u",)), data={"x": [1, 2]})
    assert record.notification() == Notification(
        record.notification_id, record.event, record.data, record.created_at, record.origin_session
    )


@pytest.mark.parametrize(
    "audience",
    [Users(("a",)), Users(("a", "b", "a")), Users(()), Group("team", "7"), Everyone()],
)
def test_a_stored_audience_decodes_as_the_general_decoder_does(
    audience: Users | Group | Everyone,
) -> None:
    text = dumps(audience_to_dict(audience))
    assert load_audience(text) == audience_from_dict(audience_to_dict(audience)) == audience


def test_unusual_stored_audiences_take_the_general_decoder() -> None:
    # Ids that are not strings become strings; extra keys are ignored; the rest is refused.
    assert load_audience('{"kind": "users", "ids": [1, "b"]}') == Users(("1", "b"))
    assert load_audience('{"kind": "users", "ids": ["a"], "extra": 1}') == Users(("a",))
    with pytest.raises(ValueError):
        load_audience('{"kind": "users", "ids": "a"}')
    with pytest.raises(StoreError):
        load_audience('["users"]')


def test_known_recipients_of_one_user_and_of_several() -> None:
    assert known_recipients(make_record(audience=Users(("a",)))) == ("a",)
    assert known_recipients(make_record(audience=Users(("a", "b", "a")))) == ("a", "b")
    assert known_recipients(make_record(audience=Everyone())) == ()
    assert known_recipients(make_record(audience=Group("team", "7"))) is None


def test_remembered_times_convert_back_exactly() -> None:
    value = 1_764_763_200_123_456
    moment = from_micros_memo(value)
    assert moment == from_micros(value)
    assert to_micros_memo(moment) == value == to_micros(moment)
    # An equal datetime that was not remembered is converted, not looked up.
    other = from_micros(value) + timedelta(microseconds=1)
    assert to_micros_memo(other) == value + 1
    with pytest.raises(ValueError):
        to_micros_memo(datetime(2026, 12, 3))


def test_the_memo_forgets_when_full_and_stays_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timestamps, "_MEMO_LIMIT", 3)
    values = list(range(1_700_000_000_000_000, 1_700_000_000_000_010))
    moments = [from_micros_memo(value) for value in values]
    assert len(timestamps._memo) <= 3
    assert [to_micros_memo(moment) for moment in moments] == values


def test_entries_without_collapse_keys_are_the_rows_the_general_insert_writes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite3"
    apply_sqlite(path)
    conn = sqlite3.connect(path, isolation_level=None)
    notes = [dataclasses.replace(NOTE, id=f"n-{seq}") for seq in (1, 2)]
    entries = [inbox_entry("u", seq, note, NOW) for seq, note in zip((1, 2), notes, strict=True)]
    plan = StreamPlan(
        notifications=[placed_notification(e, e.seq + 4, 3, 2, None) for e in entries],
        collapse_keys=[None, None],
    )
    insert_entries(conn, entries, plan, 17)
    plain = conn.execute(f"SELECT * FROM {INBOX} ORDER BY seq").fetchall()
    conn.execute(f"DELETE FROM {INBOX}")
    conn.executemany(INSERT_ENTRY, inbox_rows(entries, plan, 17))
    assert conn.execute(f"SELECT * FROM {INBOX} ORDER BY seq").fetchall() == plain
    conn.close()
