"""Protocol v1 server frames (JSON text) parsed into typed values; client frames encoded.

:func:`parse_server_frame` returns None for anything it does not recognise: a later protocol
may add frame types, and a client ignores them rather than failing.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .models import Broadcast, Notification


@dataclass(frozen=True, slots=True)
class Welcome:
    user_id: str
    head: int
    since: int
    recovered: bool
    device: str


@dataclass(frozen=True, slots=True)
class NotificationFrame:
    notification: Notification


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


ServerFrame = Welcome | NotificationFrame | CaughtUp | BroadcastFrame | ErrorFrame


def _seq(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_notification(fields: dict[str, Any]) -> Notification | None:
    """A notification from a frame or a REST item (same fields); None when malformed."""
    seq, origin = _seq(fields.get("seq")), fields.get("origin_session")
    note_id, event, data = fields.get("id"), fields.get("event"), fields.get("data")
    created_at = _timestamp(fields.get("created_at"))
    if seq is None or seq < 1 or created_at is None or not isinstance(data, dict):
        return None
    if not isinstance(note_id, str) or not isinstance(event, str):
        return None
    if origin is not None and not isinstance(origin, str):
        return None
    return Notification(seq, note_id, event, data, created_at, origin)


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
    return Welcome(user_id, head, since, recovered, device if isinstance(device, str) else "")


def _notification(fields: dict[str, Any]) -> NotificationFrame | None:
    notification = parse_notification(fields)
    return None if notification is None else NotificationFrame(notification)


def _caught_up(fields: dict[str, Any]) -> CaughtUp | None:
    seq = _seq(fields.get("seq"))
    return None if seq is None else CaughtUp(seq)


def _error(fields: dict[str, Any]) -> ErrorFrame | None:
    code = fields.get("code")
    return ErrorFrame(code, str(fields.get("message", ""))) if isinstance(code, str) else None


_PARSERS = {
    "welcome": _welcome,
    "notification": _notification,
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


def encode_ack(seq: int) -> str:
    """``{"type":"ack","seq":S}``: acknowledges every seq up to S."""
    return json.dumps({"type": "ack", "seq": seq})


def encode_refresh(token: str) -> str:
    """``{"type":"refresh","token":T}``: extends the connection past the old token's exp."""
    return json.dumps({"type": "refresh", "token": token})
