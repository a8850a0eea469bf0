"""The stream (protocol v2) in the live signal: positions and changes travel with the entries,
and a node that knows only the v1 keys decodes the same entries as before."""

from datetime import timedelta
from typing import Any

import orjson
import pytest

from outbox.live_wire import decode_live_batch, encode_live_batch, encode_live_messages
from outbox.records import InboxEntry
from outbox.stream import ChangeOp, Counts, StreamChange, StreamItem, StreamNotification
from tests.worker.test_live import T0, fan_out, note


def placed(entries: list[InboxEntry]) -> list[StreamItem]:
    return [
        StreamNotification(e, e.seq * 2, Counts(e.seq, e.seq + 1), e.seq - 1 or None)
        for e in entries
    ]


def change(user: str, pos: int, **fields: Any) -> StreamChange:
    values: dict[str, Any] = {
        "op": ChangeOp.READ,
        "seqs": (1, 2),
        "upto": None,
        "counts": Counts(0, 3),
        "at": T0 + timedelta(microseconds=pos),
        **fields,
    }
    return StreamChange(user, pos, **values)


def test_positions_and_changes_round_trip_exactly() -> None:
    entries = fan_out([note(1), note(2)], ["alice", "bob"])
    changes = [change("alice", 9), change("bob", 7, op=ChangeOp.ARCHIVE, seqs=(), upto=2)]
    stream = [*placed(entries), *changes]

    decoded = decode_live_batch(encode_live_batch(entries, [], stream))

    assert decoded.entries == tuple(entries)
    assert decoded.stream() == stream
    assert all(c.at.tzinfo is not None for c in decoded.stream() if isinstance(c, StreamChange))


def test_a_v1_reader_sees_the_same_entries_and_broadcasts_with_or_without_the_stream() -> None:
    entries = fan_out([note(1), note(2)], ["alice"])
    plain = orjson.loads(encode_live_batch(entries, [note(3)]))
    with_stream = orjson.loads(encode_live_batch(entries, [note(3)], placed(entries)))

    # What a node of the previous version matches on is unchanged; the rest is added keys.
    assert {k: with_stream[k] for k in ("v", "n", "e", "b")} == plain
    assert set(with_stream) == {"v", "n", "e", "b", "p"}
    assert decode_live_batch(orjson.dumps(plain)).has_stream is False


def test_a_message_of_changes_only() -> None:
    [message] = encode_live_messages([], [], stream=[change("alice", 3)])

    decoded = decode_live_batch(message)

    assert decoded.entries == () and decoded.broadcasts == ()
    assert decoded.stream() == [change("alice", 3)]


def test_splitting_keeps_each_position_with_its_entry_and_the_changes_in_order() -> None:
    entries = fan_out([note(i) for i in range(30)], ["alice", "bob"])
    changes = [change("alice", 100 + i) for i in range(25)]
    stream = [*placed(entries), *changes]

    messages = encode_live_messages(entries, [], stream=stream, max_items=7)

    assert len(messages) > 5
    decoded = [decode_live_batch(m) for m in messages]
    assert [item for batch in decoded for item in batch.stream()] == stream


def test_a_stream_that_is_not_the_entries_is_refused() -> None:
    entries = fan_out([note(1), note(2)], ["alice"])
    with pytest.raises(ValueError):
        encode_live_messages(entries, [], stream=placed(entries)[:1])


def good_message() -> dict[str, Any]:
    entries = fan_out([note(1)], ["a"])
    data = encode_live_batch(entries, [], [*placed(entries), change("a", 5)])
    message: dict[str, Any] = orjson.loads(data)
    return message


@pytest.mark.parametrize(
    "breakage",
    [
        lambda m: m["p"].append([1, 0, 0, None]),
        lambda m: m["p"][0].__setitem__(0, -1),
        lambda m: m["p"][0].__setitem__(3, "x"),
        lambda m: m["p"][0].pop(),
        lambda m: m["c"][0].__setitem__(2, "delete_everything"),
        lambda m: m["c"][0].__setitem__(3, ["1"]),
        lambda m: m["c"][0].__setitem__(4, 1.5),
        lambda m: m["c"][0].__setitem__(0, 7),
        lambda m: m["c"][0].__setitem__(7, "later"),
        lambda m: m["c"].append("x"),
    ],
)
def test_malformed_stream_rows_raise_value_error(breakage: object) -> None:
    message = good_message()
    breakage(message)  # type: ignore[operator]
    batch = decode_live_batch(orjson.dumps(message))  # the v1 part still decodes
    with pytest.raises(ValueError):
        batch.stream()


def test_stream_keys_that_are_not_lists_are_refused() -> None:
    message = good_message()
    message["c"] = {"not": "a list"}
    with pytest.raises(ValueError):
        decode_live_batch(orjson.dumps(message))
