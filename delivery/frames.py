"""Protocol v1 frames: query parameters, server frames and client frames, with no I/O.

Parsing functions raise :class:`BadQuery` (query parameters) or :class:`BadFrame` (client
frames), each with a stable snake_case ``code`` and a human ``message`` that never echoes the
offending input (a token must never end up in a log line or an error frame).

Encoders return ``str`` ready for ``send_text``. Timestamps are ISO 8601 in UTC with a ``Z``
suffix, with microseconds only when they are not zero (``2024-05-01T12:00:00.250000Z``).
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import orjson

from foundation.constants import DEFAULT_DEVICE, DEVICE_PATTERN, MAX_SEQ
from foundation.errors import TidingsError
from outbox.records import InboxEntry, Notification

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 500

# ``[0-9]`` rather than ``\d``: ``\d`` also matches full-width and other Unicode digits.
_SEQ_RE: Final = re.compile(r"[0-9]{1,19}")
_LIMIT_RE: Final = re.compile(r"[0-9]{1,3}")
_DEVICE_RE: Final = re.compile(DEVICE_PATTERN)
# Naive datetimes are taken as UTC; aware ones with a zero offset are written with "Z".
_JSON_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class BadQuery(TidingsError):
    """A query parameter breaks the protocol (WebSocket close 4400, REST 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BadFrame(TidingsError):
    """A client frame breaks the protocol; answered with an ``error`` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FrameTooBig(BadFrame):
    """A client frame is larger than allowed (WebSocket close 1009)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__("frame_too_big", f"frames are limited to {max_bytes} bytes")


# Query parameters.


def parse_since(raw: str | None) -> int | None:
    """The ``since`` parameter: ``None`` when absent, else an int in ``0..2**63-1``.

    Accepts 1-19 ASCII digits and nothing else (no sign, space, underscore, decimal point or
    non-ASCII numeral). Raises ``BadQuery("invalid_since", ...)`` otherwise.
    """
    if raw is None:
        return None
    if _SEQ_RE.fullmatch(raw) is None:
        raise BadQuery("invalid_since", "since must be 1-19 ASCII digits")
    value = int(raw)
    if value > MAX_SEQ:
        raise BadQuery("invalid_since", "since must be at most 2**63-1")
    return value


def parse_device(raw: str | None) -> str:
    """The ``device`` parameter: ``"default"`` when absent.

    Raises ``BadQuery("invalid_device", ...)`` when present but empty, or when it is not
    1-64 characters of ``[A-Za-z0-9_-]``.
    """
    if raw is None:
        return DEFAULT_DEVICE
    if _DEVICE_RE.fullmatch(raw) is None:
        raise BadQuery("invalid_device", "device must be 1-64 characters of [A-Za-z0-9_-]")
    return raw


def parse_limit(raw: str | None) -> int:
    """The REST ``limit`` parameter: 100 when absent, else an int in 1..500.

    Values outside the range are rejected, not clamped: ``BadQuery("invalid_limit", ...)``.
    """
    if raw is None:
        return DEFAULT_LIMIT
    if _LIMIT_RE.fullmatch(raw) is None or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadQuery("invalid_limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


# Server frames.


def _utc(moment: datetime) -> datetime:
    # Only a non-zero offset needs converting: orjson already writes naive and zero-offset
    # datetimes with "Z", and the identity test keeps the common case to one comparison.
    if moment.tzinfo is not UTC and moment.utcoffset():
        return moment.astimezone(UTC)
    return moment


def _dumps(frame: dict[str, object]) -> str:
    return orjson.dumps(frame, option=_JSON_OPTIONS).decode()


def format_timestamp(moment: datetime) -> str:
    """``moment`` as the frames write it: ISO 8601 UTC with ``Z``, naive taken as UTC."""
    return orjson.dumps(_utc(moment), option=_JSON_OPTIONS)[1:-1].decode()


def notification_fields(entry: InboxEntry) -> dict[str, object]:
    """The fields of a ``notification`` frame without ``type`` (REST items).

    ``created_at`` is already a string, formatted as in frames, so any JSON encoder keeps it.
    """
    note = entry.notification
    return {
        "seq": entry.seq,
        "id": note.id,
        "event": note.event,
        "data": note.data,
        "created_at": format_timestamp(note.created_at),
        "origin_session": note.origin_session,
    }


def encode_welcome(
    user_id: str,
    head: int,
    since: int,
    recovered: bool,
    device: str,
    *,
    unread: int | None = None,
) -> str:
    """The first frame of every connection.

    ``since`` is the position the stream resumes after (see ``DeliverySession``); ``unread``
    the device's unread count (retained entries above its stored ack), an addition to v1
    that older clients ignore.
    """
    frame: dict[str, object] = {
        "type": "welcome",
        "user_id": user_id,
        "head": head,
        "since": since,
        "recovered": recovered,
        "device": device,
    }
    if unread is not None:
        frame["unread"] = unread
    return _dumps(frame)


def encode_notification(entry: InboxEntry) -> str:
    """A ``notification`` frame for one inbox entry (the hot path: one dumps call)."""
    note = entry.notification
    return orjson.dumps(
        {
            "type": "notification",
            "seq": entry.seq,
            "id": note.id,
            "event": note.event,
            "data": note.data,
            "created_at": _utc(note.created_at),
            "origin_session": note.origin_session,
        },
        option=_JSON_OPTIONS,
    ).decode()


def encode_caught_up(seq: int) -> str:
    """The ``caught_up`` frame: every retained seq up to ``seq`` has been sent."""
    return _dumps({"type": "caught_up", "seq": seq})


def encode_broadcast(notification: Notification) -> str:
    """A ``broadcast`` frame (``Everyone`` audience: no seq, best effort)."""
    return _dumps(
        {
            "type": "broadcast",
            "id": notification.id,
            "event": notification.event,
            "data": notification.data,
            "created_at": _utc(notification.created_at),
        }
    )


def encode_error(code: str, message: str) -> str:
    """An ``error`` frame; the connection stays open."""
    return _dumps({"type": "error", "code": code, "message": message})


# Client frames.


@dataclass(frozen=True, slots=True)
class Ack:
    """``{"type":"ack","seq":S}``: acknowledges every seq up to ``seq``."""

    seq: int


@dataclass(frozen=True, slots=True)
class Refresh:
    """``{"type":"refresh","token":T}``: a fresh token for the same user."""

    # Kept out of repr so that logging a frame never logs a token.
    token: str = field(repr=False)


ClientFrame = Ack | Refresh


def _byte_length_over(text: str, max_bytes: int) -> bool:
    # A UTF-8 character is 1-4 bytes, so most frames are decided without encoding them.
    if len(text) > max_bytes:
        return True
    if len(text) * 4 <= max_bytes:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > max_bytes


def _parse_ack(frame: dict[str, object]) -> Ack:
    seq = frame.get("seq")
    # ``type() is int`` rejects bool, which is an int subclass; huge numbers arrive as floats.
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        raise BadFrame("invalid_ack", "ack needs seq: an integer from 0 to 2**63-1")
    return Ack(seq)


def _parse_refresh(frame: dict[str, object]) -> Refresh:
    token = frame.get("token")
    if not isinstance(token, str) or not token:
        raise BadFrame("invalid_refresh", "refresh needs token: a non-empty string")
    return Refresh(token)


def parse_client_frame(text: str, max_bytes: int) -> ClientFrame:
    """Parse one client text frame into :class:`Ack` or :class:`Refresh`.

    Fields other than those named are ignored, so clients may add some. Raises
    :class:`FrameTooBig` when ``text`` is over ``max_bytes`` bytes of UTF-8, and
    :class:`BadFrame` with code ``invalid_json`` (not JSON), ``invalid_frame`` (not an object,
    or ``type`` missing or not a string), ``unknown_type``, ``invalid_ack`` or
    ``invalid_refresh``.
    """
    if _byte_length_over(text, max_bytes):
        raise FrameTooBig(max_bytes)
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadFrame("invalid_json", "frames must be JSON text") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame("invalid_frame", 'frames must be JSON objects with a string "type"')
    match frame["type"]:
        case "ack":
            return _parse_ack(frame)
        case "refresh":
            return _parse_refresh(frame)
    raise BadFrame("unknown_type", 'type must be "ack" or "refresh"')
