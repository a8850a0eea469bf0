"""Query parameters, server frame encodings and client frame parsing of protocol v1."""

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from delivery.frames import (
    Ack,
    BadFrame,
    BadQuery,
    FrameTooBig,
    Refresh,
    encode_broadcast,
    encode_caught_up,
    encode_error,
    encode_notification,
    encode_welcome,
    format_timestamp,
    notification_fields,
    parse_client_frame,
    parse_device,
    parse_limit,
    parse_since,
)
from outbox.records import InboxEntry, Notification

MAX = 64 * 1024
CREATED = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)


def entry(seq: int = 7, origin: str | None = "tab-1") -> InboxEntry:
    note = Notification("n1", "family_member_joined", {"who": "ana", "n": [1, 2]}, CREATED, origin)
    return InboxEntry("alice", seq, note, CREATED)


# since


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("0", 0), ("42", 42), ("007", 7), ("9223372036854775807", 2**63 - 1)],
)
def test_since_accepts_ascii_digits_up_to_max_seq(raw: str | None, expected: int | None) -> None:
    assert parse_since(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "-1",
        "abc",
        "1.5",
        "",
        " 1",
        "1 ",
        "+1",
        "1_0",
        "１",  # noqa: RUF001 - the full-width digit is the point of the case
        "٣",  # Arabic-Indic three
        "²",
        "1\n",
        "0x10",
        "1e3",
        str(2**63),
        "9" * 19,
        "1" * 20,
        "9" * 70,
    ],
)
def test_since_rejects_everything_else(raw: str) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_since(raw)
    assert caught.value.code == "invalid_since"


# device


def test_device_defaults_when_absent() -> None:
    assert parse_device(None) == "default"


@pytest.mark.parametrize("raw", ["a", "phone-1", "Tab_2", "x" * 64, "0"])
def test_device_accepts_the_pattern(raw: str) -> None:
    assert parse_device(raw) == raw


@pytest.mark.parametrize("raw", ["", "x" * 65, "a b", "a.b", "é", "a\n", "ａ", "a/b"])  # noqa: RUF001
def test_device_rejects_empty_and_off_pattern(raw: str) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_device(raw)
    assert caught.value.code == "invalid_device"


# limit


@pytest.mark.parametrize(("raw", "expected"), [(None, 100), ("1", 1), ("500", 500), ("50", 50)])
def test_limit_accepts_1_to_500(raw: str | None, expected: int) -> None:
    assert parse_limit(raw) == expected


@pytest.mark.parametrize("raw", ["0", "501", "1000", "-1", "", " 5", "+5", "5.0", "abc", "１"])  # noqa: RUF001
def test_limit_is_rejected_not_clamped(raw: str) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_limit(raw)
    assert caught.value.code == "invalid_limit"


# Server frames.


def test_welcome_frame() -> None:
    frame = orjson.loads(encode_welcome("alice", 12, 3, False, "phone"))
    assert frame == {
        "type": "welcome",
        "user_id": "alice",
        "head": 12,
        "since": 3,
        "recovered": False,
        "device": "phone",
    }


def test_notification_frame_has_exact_fields() -> None:
    frame = orjson.loads(encode_notification(entry()))
    assert frame == {
        "type": "notification",
        "seq": 7,
        "id": "n1",
        "event": "family_member_joined",
        "data": {"who": "ana", "n": [1, 2]},
        "created_at": "2024-05-01T12:00:00.250000Z",
        "origin_session": "tab-1",
    }


def test_notification_frame_origin_session_null() -> None:
    assert orjson.loads(encode_notification(entry(origin=None)))["origin_session"] is None


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2024, 5, 1, 12, tzinfo=UTC), "2024-05-01T12:00:00Z"),
        (datetime(2024, 5, 1, 12), "2024-05-01T12:00:00Z"),
        (datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:00:00Z"),
        (datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(0))), "2024-05-01T12:00:00Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC), "2024-05-01T12:00:00.000001Z"),
    ],
)
def test_timestamps_are_utc_with_z(moment: datetime, expected: str) -> None:
    assert format_timestamp(moment) == expected
    note = Notification("n", "e", {}, moment)
    assert orjson.loads(encode_notification(InboxEntry("u", 1, note, moment)))["created_at"] == (
        expected
    )
    assert orjson.loads(encode_broadcast(note))["created_at"] == expected


def test_notification_fields_match_the_frame_without_type() -> None:
    frame = orjson.loads(encode_notification(entry()))
    del frame["type"]
    assert orjson.loads(orjson.dumps(notification_fields(entry()))) == frame


def test_caught_up_frame() -> None:
    assert orjson.loads(encode_caught_up(9)) == {"type": "caught_up", "seq": 9}


def test_broadcast_frame_has_no_seq_and_no_origin() -> None:
    note = Notification("b1", "maintenance", {"at": "soon"}, CREATED, "tab")
    assert orjson.loads(encode_broadcast(note)) == {
        "type": "broadcast",
        "id": "b1",
        "event": "maintenance",
        "data": {"at": "soon"},
        "created_at": "2024-05-01T12:00:00.250000Z",
    }


def test_error_frame() -> None:
    assert orjson.loads(encode_error("ack_stale", "too old")) == {
        "type": "error",
        "code": "ack_stale",
        "message": "too old",
    }


def test_encoders_return_str() -> None:
    assert isinstance(encode_notification(entry()), str)
    assert isinstance(encode_caught_up(1), str)


# Client frames.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"ack","seq":5}', Ack(5)),
        ('{"type":"ack","seq":0}', Ack(0)),
        ('{"type":"ack","seq":9223372036854775807}', Ack(2**63 - 1)),
        ('{"seq":5,"type":"ack","extra":true}', Ack(5)),
        ('{"type":"refresh","token":"abc.def"}', Refresh("abc.def")),
    ],
)
def test_client_frames_parse(text: str, expected: Ack | Refresh) -> None:
    assert parse_client_frame(text, MAX) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "invalid_json"),
        ("not json", "invalid_json"),
        ('{"type":"ack",', "invalid_json"),
        ("NaN", "invalid_json"),
        ("[1,2]", "invalid_frame"),
        ('"ack"', "invalid_frame"),
        ("null", "invalid_frame"),
        ('{"seq":1}', "invalid_frame"),
        ('{"type":1,"seq":1}', "invalid_frame"),
        ('{"type":"subscribe"}', "unknown_type"),
        ('{"type":"ACK","seq":1}', "unknown_type"),
        ('{"type":"ack"}', "invalid_ack"),
        ('{"type":"ack","seq":-1}', "invalid_ack"),
        ('{"type":"ack","seq":true}', "invalid_ack"),
        ('{"type":"ack","seq":1.0}', "invalid_ack"),
        ('{"type":"ack","seq":"1"}', "invalid_ack"),
        ('{"type":"ack","seq":null}', "invalid_ack"),
        ('{"type":"ack","seq":9223372036854775808}', "invalid_ack"),
        ('{"type":"ack","seq":18446744073709551616}', "invalid_ack"),
        ('{"type":"refresh"}', "invalid_refresh"),
        ('{"type":"refresh","token":""}', "invalid_refresh"),
        ('{"type":"refresh","token":5}', "invalid_refresh"),
        ('{"type":"refresh","token":null}', "invalid_refresh"),
    ],
)
def test_bad_client_frames_have_stable_codes(text: str, code: str) -> None:
    with pytest.raises(BadFrame) as caught:
        parse_client_frame(text, MAX)
    assert caught.value.code == code
    assert caught.value.message


def test_frame_size_is_counted_in_utf8_bytes() -> None:
    frame = '{"type":"refresh","token":"' + "é" * 10 + '"}'  # 39 characters, 49 bytes
    assert parse_client_frame(frame, 49) == Refresh("é" * 10)
    with pytest.raises(FrameTooBig) as caught:
        parse_client_frame(frame, 48)
    assert caught.value.code == "frame_too_big"


def test_error_messages_never_echo_a_token() -> None:
    with pytest.raises(BadFrame) as caught:
        parse_client_frame('{"type":"refresh","token":"secret-token","x":', MAX)
    assert "secret-token" not in caught.value.message
    assert "secret-token" not in repr(Refresh("secret-token"))
