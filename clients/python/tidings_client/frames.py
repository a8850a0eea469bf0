"""Server frames (JSON text) of protocol v1 and v2 parsed into typed values; client frames
encoded.

:func:`parse_server_frame` returns None for anything it does not recognise: a later protocol
may add frame types, and a client ignores them rather than failing. In v2, positions
(``head``, ``since``, ``caught_up``) are stream positions and ``state`` frames carry changes.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .models import Broadcast, ChangeOp, Counts, MarkOp, Notification, StateChange

_CHANGE_OPS = ("read", "unread", "archive", "unarchive", "retract", "trim")


@dataclass(frozen=True, slots=True)
class Welcome:
    user_id: str
    head: int
    since: int
    recovered: bool
    device: str
    seq_head: int | None = None
    """Protocol v2: the v1 head (the highest seq)."""
    counts: Counts | None = None
    """Protocol v2: the counts at ``head``."""


@dataclass(frozen=True, slots=True)
class NotificationFrame:
    notification: Notification


@dataclass(frozen=True, slots=True)
class StateFrame:
    change: StateChange


@dataclass(frozen=True, slots=True)
class CaughtUp:
    seq: int


@dataclass(frozen=True, slots=True)
class BroadcastFrame:
    broadcast: Broadcast


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    code: str
    message: str


ServerFrame = Welcome | NotificationFrame | StateFrame | CaughtUp | BroadcastFrame | ErrorFrame


def _seq(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_counts(value: object) -> Counts | None:
    """Counts from a frame's ``counts`` field; None when malformed."""
    if not isinstance(value, dict):
        return None
    unread, unarchived = _seq(value.get("unread")), _seq(value.get("unarchived"))
    return None if unread is None or unarchived is None else Counts(unread, unarchived)


def _placed(notification: Notification, fields: dict[str, Any]) -> Notification | None:
    """``notification`` with its v2 fields (position, replaced seq, counts)."""
    pos, replaces = _seq(fields.get("pos")), fields.get("replaces")
    counts = parse_counts(fields.get("counts"))
    if pos is None or pos < 1 or counts is None:
        return None
    if replaces is not None and _seq(replaces) is None:
        return None
    return replace(notification, pos=pos, replaces=replaces, counts=counts)


def parse_change(fields: dict[str, Any]) -> StateChange | None:
    """A v2 change from a ``state`` frame or a REST stream item; None when malformed."""
    pos, op, seqs, upto = (
        _seq(fields.get("pos")),
        fields.get("op"),
        fields.get("seqs"),
        fields.get("upto"),
    )
    at, counts = _timestamp(fields.get("at")), parse_counts(fields.get("counts"))
    if pos is None or pos < 1 or op not in _CHANGE_OPS or at is None or counts is None:
        return None
    if not isinstance(seqs, list) or any(_seq(seq) is None for seq in seqs):
        return None
    if upto is not None and _seq(upto) is None:
        return None
    kind: ChangeOp = op
    return StateChange(pos, kind, tuple(seqs), upto, at, counts)


def parse_notification(fields: dict[str, Any]) -> Notification | None:
    """A notification from a frame or a REST item (same fields, v1 or v2); None when
    malformed."""
    seq, origin = _seq(fields.get("seq")), fields.get("origin_session")
    note_id, event, data = fields.get("id"), fields.get("event"), fields.get("data")
    created_at = _timestamp(fields.get("created_at"))
    if seq is None or seq < 1 or created_at is None or not isinstance(data, dict):
        return None
    if not isinstance(note_id, str) or not isinstance(event, str):
        return None
    if origin is not None and not isinstance(origin, str):
        return None
    notification = Notification(seq, note_id, event, data, created_at, origin)
    return notification if "pos" not in fields else _placed(notification, fields)


def _broadcast(fields: dict[str, Any]) -> BroadcastFrame | None:
    note_id, event, data = fields.get("id"), fields.get("event"), fields.get("data")
    created_at = _timestamp(fields.get("created_at"))
    if not isinstance(note_id, str) or not isinstance(event, str) or not isinstance(data, dict):
        return None
    return (
        None if created_at is None else BroadcastFrame(Broadcast(note_id, event, data, created_at))
    )


def _welcome(fields: dict[str, Any]) -> Welcome | None:
    user_id, recovered, device = (
        fields.get("user_id"),
        fields.get("recovered"),
        fields.get("device"),
    )
    head, since = _seq(fields.get("head")), _seq(fields.get("since"))
    if not isinstance(user_id, str) or head is None or since is None:
        return None
    if not isinstance(recovered, bool):
        return None
    welcome = Welcome(user_id, head, since, recovered, device if isinstance(device, str) else "")
    if fields.get("v") != 2:
        return welcome
    seq_head, counts = _seq(fields.get("seq_head")), parse_counts(fields.get("counts"))
    if seq_head is None or counts is None:
        return None
    return replace(welcome, seq_head=seq_head, counts=counts)


def _notification(fields: dict[str, Any]) -> NotificationFrame | None:
    notification = parse_notification(fields)
    return None if notification is None else NotificationFrame(notification)


def _state(fields: dict[str, Any]) -> StateFrame | None:
    change = parse_change(fields)
    return None if change is None else StateFrame(change)


def _caught_up(fields: dict[str, Any]) -> CaughtUp | None:
    seq = _seq(fields.get("pos", fields.get("seq")))
    return None if seq is None else CaughtUp(seq)


def _error(fields: dict[str, Any]) -> ErrorFrame | None:
    code = fields.get("code")
    return ErrorFrame(code, str(fields.get("message", ""))) if isinstance(code, str) else None


_PARSERS = {
    "welcome": _welcome,
    "notification": _notification,
    "state": _state,
    "caught_up": _caught_up,
    "broadcast": _broadcast,
    "error": _error,
}


def parse_server_frame(text: str) -> ServerFrame | None:
    """Parse one text frame from the server; None when it is not a frame this client knows."""
    try:
        fields = json.loads(text)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    parser = _PARSERS.get(fields.get("type"))  # type: ignore[arg-type]
    return None if parser is None else parser(fields)


def encode_ack(seq: int, protocol: int = 1) -> str:
    """``{"type":"ack","seq":S}``: acknowledges every seq up to S (v2: ``pos``, a stream
    position)."""
    return json.dumps({"type": "ack", "pos": seq} if protocol == 2 else {"type": "ack", "seq": seq})


def mark_fields(op: MarkOp, seqs: Sequence[int] | None, upto: int | None) -> dict[str, Any]:
    """The fields of a mark: ``op`` and exactly one of ``seqs`` and ``upto``."""
    if (seqs is None) == (upto is None):
        raise ValueError("a mark names seqs or upto, not both")
    return {"op": op, "seqs": list(seqs)} if seqs is not None else {"op": op, "upto": upto}


def encode_mark(op: MarkOp, seqs: Sequence[int] | None = None, upto: int | None = None) -> str:
    """Protocol v2: ``{"type":"mark","op":OP,"seqs":[...]}`` or ``... "upto":S}``."""
    return json.dumps({"type": "mark", **mark_fields(op, seqs, upto)})


def encode_refresh(token: str) -> str:
    """``{"type":"refresh","token":T}``: extends the connection past the old token's exp."""
    return json.dumps({"type": "refresh", "token": token})
