"""Protocol v2 frames (``docs/protocol-v2.md``): the version parameter, server frames and
client frames, with no I/O.

v2 adds to v1; v1's frames are :mod:`delivery.frames`. Positions on the stream are ``pos``;
a notification keeps its v1 ``seq``, which is what marks name. Parsing raises
:class:`~delivery.frames.BadQuery` or :class:`~delivery.frames.BadFrame` with a stable code and
a message that never echoes the input.
"""

from dataclasses import dataclass
from typing import Any, Final, TypeGuard

import orjson

from delivery.frames import (
    BadFrame,
    BadQuery,
    FrameTooBig,
    Refresh,
    format_timestamp,
    notification_fields,
)
from foundation.constants import MAX_SEQ
from outbox.stream import (
    CLIENT_OPS,
    MAX_MARK_SEQS,
    ChangeOp,
    Counts,
    InboxItem,
    Mark,
    StreamChange,
    StreamHead,
    StreamItem,
    StreamNotification,
)

VERSIONS: Final = {"1": 1, "2": 2}
_OPS: Final = ", ".join(sorted(CLIENT_OPS))


def parse_version(raw: str | None) -> int:
    """The ``v`` parameter: 1 when absent, else ``"1"`` or ``"2"``.

    Raises ``BadQuery("invalid_version", ...)`` for anything else.
    """
    if raw is None:
        return 1
    version = VERSIONS.get(raw)
    if version is None:
        raise BadQuery("invalid_version", "v must be 1 or 2")
    return version


# Server frames.


def counts_fields(counts: Counts) -> dict[str, int]:
    return {"unread": counts.unread, "unarchived": counts.unarchived}


def _dumps(frame: dict[str, object]) -> str:
    return orjson.dumps(frame).decode()


def encode_welcome_v2(
    user_id: str, head: StreamHead, since: int, recovered: bool, device: str
) -> str:
    """The first frame of a v2 connection: v1's fields, with ``head`` and ``since`` stream
    positions, plus ``v``, ``seq_head`` (the v1 head) and the ``counts`` at ``head``."""
    return _dumps(
        {
            "type": "welcome",
            "v": 2,
            "user_id": user_id,
            "head": head.pos,
            "since": since,
            "recovered": recovered,
            "device": device,
            "seq_head": head.seq,
            "counts": counts_fields(head.counts),
        }
    )


def stream_item_fields(item: StreamItem) -> dict[str, object]:
    """A stream entry as its frame's fields (``type`` included): WebSocket and REST alike."""
    if isinstance(item, StreamNotification):
        return {
            "type": "notification",
            "pos": item.pos,
            **notification_fields(item.entry),
            "replaces": item.replaces,
            "counts": counts_fields(item.counts),
        }
    return {
        "type": "state",
        "pos": item.pos,
        "op": item.op.value,
        "seqs": list(item.seqs),
        "upto": item.upto,
        "at": format_timestamp(item.at),
        "counts": counts_fields(item.counts),
    }


def encode_stream_item(item: StreamItem) -> str:
    """A v2 ``notification`` or ``state`` frame."""
    return _dumps(stream_item_fields(item))


def encode_caught_up_v2(pos: int) -> str:
    """The v2 ``caught_up`` frame: every retained position up to ``pos`` has been sent."""
    return _dumps({"type": "caught_up", "pos": pos})


def item_fields(item: InboxItem) -> dict[str, object]:
    """A notification with its current state, for v2 listings."""
    return {
        "pos": item.pos,
        **notification_fields(item.entry),
        "replaces": item.replaces,
        "read": item.state.read,
        "archived": item.state.archived,
        "retracted": item.state.retracted,
    }


def change_fields(change: StreamChange) -> dict[str, object]:
    """A change as REST answers it."""
    return stream_item_fields(change)


# Client frames.


@dataclass(frozen=True, slots=True)
class StreamAck:
    """``{"type":"ack","pos":P}``: acknowledges every stream position up to ``pos``."""

    pos: int


@dataclass(frozen=True, slots=True)
class MarkFrame:
    """``{"type":"mark","op":OP,"seqs":[S,...]}`` or ``{"type":"mark","op":OP,"upto":S}``."""

    mark: Mark


ClientFrameV2 = StreamAck | MarkFrame | Refresh


def _is_seq(value: object, lowest: int) -> TypeGuard[int]:
    # ``type() is int`` rejects bool, which is an int subclass; huge numbers arrive as floats.
    return type(value) is int and lowest <= value <= MAX_SEQ


def parse_mark(fields: dict[str, Any]) -> Mark:
    """A mark from a frame's or a request body's fields.

    Exactly one of ``seqs`` (1 to 500 seqs, each 1..2**63-1) and ``upto`` (0..2**63-1), and
    ``op`` one of read, unread, archive, unarchive. Raises ``BadFrame("invalid_mark", ...)``.
    """
    op, seqs, upto = fields.get("op"), fields.get("seqs"), fields.get("upto")
    if not isinstance(op, str) or op not in CLIENT_OPS:
        raise BadFrame("invalid_mark", f"op must be one of {_OPS}")
    if (seqs is None) == (upto is None):
        raise BadFrame("invalid_mark", "a mark needs seqs or upto, not both")
    if upto is not None:
        if not _is_seq(upto, 0):
            raise BadFrame("invalid_mark", "upto must be an integer from 0 to 2**63-1")
        return Mark(ChangeOp(op), upto=upto)
    if not isinstance(seqs, list) or not 1 <= len(seqs) <= MAX_MARK_SEQS:
        raise BadFrame("invalid_mark", f"seqs must be a list of 1 to {MAX_MARK_SEQS} seqs")
    if not all(_is_seq(seq, 1) for seq in seqs):
        raise BadFrame("invalid_mark", "each seq must be an integer from 1 to 2**63-1")
    return Mark(ChangeOp(op), tuple(sorted(set(seqs))))


def _too_big(text: str, max_bytes: int) -> bool:
    if len(text) * 4 <= max_bytes:  # a UTF-8 character is at most 4 bytes
        return False
    return len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes


def parse_client_frame_v2(text: str, max_bytes: int) -> ClientFrameV2:
    """Parse one v2 client text frame: ``ack`` (with ``pos``), ``mark`` or ``refresh``.

    Fields other than those named are ignored. Raises :class:`FrameTooBig` over ``max_bytes``
    bytes of UTF-8, and :class:`BadFrame` with code ``invalid_json``, ``invalid_frame``,
    ``unknown_type``, ``invalid_ack``, ``invalid_mark`` or ``invalid_refresh``.
    """
    if _too_big(text, max_bytes):
        raise FrameTooBig(max_bytes)
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadFrame("invalid_json", "frames must be JSON text") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame("invalid_frame", 'frames must be JSON objects with a string "type"')
    match frame["type"]:
        case "ack":
            pos = frame.get("pos")
            if not _is_seq(pos, 0):
                raise BadFrame("invalid_ack", "ack needs pos: an integer from 0 to 2**63-1")
            return StreamAck(pos)
        case "mark":
            return MarkFrame(parse_mark(frame))
        case "refresh":
            token = frame.get("token")
            if not isinstance(token, str) or not token:
                raise BadFrame("invalid_refresh", "refresh needs token: a non-empty string")
            return Refresh(token)
    raise BadFrame("unknown_type", 'type must be "ack", "mark" or "refresh"')
