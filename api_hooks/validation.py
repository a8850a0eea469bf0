"""Turning an emit into an outbox record, or refusing it. Pure: ``now`` is passed in."""

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from foundation.constants import EVENT_NAME_PATTERN, MAX_DATA_BYTES, RETRACT
from foundation.errors import EmitRefused
from outbox.records import (
    Audience,
    Everyone,
    Group,
    OutboxRecord,
    Users,
    new_record_id,
    notification_id_for,
)

_EVENT_NAME = re.compile(EVENT_NAME_PATTERN)
MAX_ID_LENGTH = 256


def build_record(
    *,
    event: str,
    data: Mapping[str, Any],
    to: Audience,
    now: datetime,
    dedup_key: str | None = None,
    origin_session: str | None = None,
    collapse_key: str | None = None,
) -> OutboxRecord:
    """Validate an emit and return its pending record.

    Raises ``EmitRefused`` with one of the codes ``invalid_event``, ``invalid_data``,
    ``data_too_large``, ``invalid_audience``, ``empty_audience``, ``invalid_dedup_key``,
    ``invalid_origin_session`` or ``invalid_collapse_key``. ``data`` is stored as the JSON it
    encodes to, so what recipients get is exactly what a JSON round trip gives.
    """
    if not isinstance(event, str) or not _EVENT_NAME.fullmatch(event):
        raise EmitRefused("invalid_event", f"event must match {EVENT_NAME_PATTERN}")
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=notification_id_for(_checked_text(dedup_key, "dedup_key"), record_id),
        event=event,
        data=_checked_data(data),
        audience=_checked_audience(to),
        created_at=now,
        dedup_key=dedup_key,
        origin_session=_checked_text(origin_session, "origin_session"),
        collapse_key=_checked_text(collapse_key, "collapse_key"),
    )


def build_retract(*, key: str, to: Audience, now: datetime) -> OutboxRecord:
    """Validate a retraction of the notifications holding collapse key ``key`` and return its
    pending record. ``Everyone()`` retracts them from every user who holds one.

    Raises ``EmitRefused`` (``invalid_collapse_key``, ``invalid_audience``,
    ``empty_audience``).
    """
    checked = _checked_text(key, "collapse_key")
    if checked is None:
        raise EmitRefused("invalid_collapse_key", "a retraction needs a collapse key")
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=record_id,
        event="retract",
        data={},
        audience=_checked_audience(to),
        created_at=now,
        kind=RETRACT,
        collapse_key=checked,
    )


def _checked_data(data: object) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise EmitRefused("invalid_data", "data must be a JSON object")
    if not _string_keys_only(data):
        # json.dumps would turn 1 into "1" silently; recipients would see other keys.
        raise EmitRefused("invalid_data", "data object keys must be strings")
    try:
        encoded = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise EmitRefused("invalid_data", f"data is not JSON: {error}") from None
    size = len(encoded.encode())
    if size > MAX_DATA_BYTES:
        raise EmitRefused("data_too_large", f"data is {size} bytes encoded; at most 65536")
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def _string_keys_only(value: object) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _string_keys_only(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_string_keys_only(item) for item in value)
    return True


def _checked_audience(audience: object) -> Audience:
    match audience:
        case Users(ids):
            if not ids:
                raise EmitRefused("empty_audience", "Users() needs at least one user id")
            for user_id in ids:
                _require_id(user_id, "user id")
            return Users(tuple(dict.fromkeys(ids)))
        case Group(kind, group_id):
            _require_id(kind, "group kind")
            _require_id(group_id, "group id")
            return audience
        case Everyone():
            return audience
    raise EmitRefused("invalid_audience", "audience must be Users, Group or Everyone")


def _require_id(value: object, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise EmitRefused("invalid_audience", f"{what} must be a non-empty string of <= 256")


def _checked_text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise EmitRefused(f"invalid_{name}", f"{name} must be a non-empty string of <= 256")
    return value
