"""Turning an emit into an outbox record, or refusing it. Pure: ``now`` is passed in."""

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import orjson

from foundation.constants import EVENT_NAME_PATTERN, MAX_DATA_BYTES, NOTIFY, PENDING, RETRACT
from foundation.errors import EmitRefused
from outbox.records import (
    Audience,
    Everyone,
    Group,
    OutboxRecord,
    Users,
    new_record_id,
    notification_id_for,
    outbox_record,
)

_EVENT_NAME = re.compile(EVENT_NAME_PATTERN)
MAX_ID_LENGTH = 256

# Plain data (see ``_plain_floats``) is encoded by orjson, which agrees with ``json.dumps`` on
# what such data is and differs only in how it writes some floats (``1e-05`` against
# ``0.00001``): by fewer bytes than this each, since no float takes more than 24 characters.
_FLOAT_SLACK: Final = 24
# Deeper data takes the ``json`` path, which decides as it always did.
_PLAIN_DEPTH: Final = 32
_PLAIN_SCALARS: Final = frozenset({str, int, bool, type(None)})
_PLAIN_CONTAINERS: Final = frozenset({dict, list, tuple})


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
    notification_id = notification_id_for(_checked_text(dedup_key, "dedup_key"), record_id)
    checked_data = _checked_data(data)
    audience = _checked_audience(to)
    origin = _checked_text(origin_session, "origin_session")
    collapse = _checked_text(collapse_key, "collapse_key")
    return outbox_record(
        record_id,
        notification_id,
        event,
        checked_data,
        audience,
        now,
        dedup_key,
        origin,
        PENDING,
        0,
        None,
        None,
        NOTIFY,
        collapse,
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
    """``data`` as a JSON round trip gives it back, or ``EmitRefused``.

    What ``json.dumps(data, allow_nan=False)`` accepts, and its size in UTF-8, decide. Plain
    data (dicts with string keys, lists, tuples, strings, integers, finite floats, booleans and
    None, each of exactly that type) is encoded once by orjson and decided from that. Anything
    else, what orjson refuses (integers past 64 bits, lone surrogates) and what comes near the
    size limit are decided by ``json`` itself, as they always were.
    """
    if type(data) is dict:
        floats = _plain_floats(data, 0)
        if floats >= 0:
            try:
                encoded = orjson.dumps(data)
            except orjson.JSONEncodeError:
                pass
            else:
                if len(encoded) + floats * _FLOAT_SLACK <= MAX_DATA_BYTES:
                    decoded: dict[str, Any] = orjson.loads(encoded)
                    return decoded
    return _checked_data_by_json(data)


def _plain_floats(value: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int) -> int:
    """How many floats ``value``'s values hold if they are plain data, at most
    ``_PLAIN_DEPTH`` deep; -1 if not (other types, NaN or infinities, deeper nesting).

    Keys are left to orjson, which refuses any key that is not exactly a string.
    """
    if depth > _PLAIN_DEPTH:
        return -1
    floats = 0
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind in _PLAIN_SCALARS:
            continue
        if kind is float:
            inner = 1 if math.isfinite(item) else -1
        elif kind in _PLAIN_CONTAINERS:
            inner = _plain_floats(item, depth + 1)
        else:
            return -1
        if inner < 0:
            return -1
        floats += inner
    return floats


def _checked_data_by_json(data: object) -> dict[str, Any]:
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
            if type(audience) is Users and type(ids) is tuple and len(set(ids)) == len(ids):
                return audience  # frozen, and already what it would become
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
