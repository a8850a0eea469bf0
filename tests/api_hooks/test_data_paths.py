"""The fast check of emitted data decides exactly as ``json`` does, and records stay records.

``_checked_data`` takes plain data through orjson and everything else through ``json``; for
every value here both paths must give the same data back or the same refusal.
"""

import dataclasses
import enum
import math
import random
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from api_hooks.validation import _checked_data, _checked_data_by_json
from foundation.constants import MAX_DATA_BYTES
from foundation.errors import EmitRefused
from outbox.records import OutboxRecord, Users, new_record_id, outbox_record


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Key(str):
    pass


def outcome(check: Any, data: Any) -> tuple[str, Any]:
    try:
        return "accepted", check(data)
    except EmitRefused as refused:
        return "refused", refused.code
    except Exception as error:  # the json path's own errors must stay what they were
        return "raised", type(error)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1.5}
    for _ in range(depth):
        value = {"n": [value]}
    return value


def circular() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


VALUES: list[Any] = [
    {},
    {"amount": 5, "note": "x" * 200, "ok": True, "none": None},
    {"t": (1, 2), "l": [1, [2, (3,)]], "f": -0.0, "g": 1e-05, "h": 1e16, "i": 1e15},
    {"nan": float("nan")},
    {"deep": [{"inf": float("inf")}]},
    {"neg": [-math.inf]},
    {"big": 2**64},
    {"big": -(2**63) - 1},
    {"edge": 2**64 - 1, "low": -(2**63)},
    {"surrogate": "\ud800"},
    {"\ud800": 1},
    {"when": datetime(2026, 1, 1, tzinfo=UTC)},
    {"id": uuid.UUID(int=7)},
    {"colour": Colour.RED},
    {"level": Level.HIGH},
    {"flag": True, "sub": Key("text")},
    {Key("k"): 1},
    {1: "non-string key"},
    {"inner": {2: "non-string key"}},
    {None: 1},
    {"set": {1, 2}},
    {"bytes": b"x"},
    OrderedDict(a=1),
    {"od": OrderedDict(a=1)},
    MappingProxyType({"a": 1}),
    ["not", "an", "object"],
    "text",
    None,
    nested(10),
    nested(40),
    nested(400),
    circular(),
    {"control": '\x00\x1f\n\t"\\ \x7f \u2028 é ✓ 😀'},
    # Around the size limit: {"blob":"..."} is 11 bytes of framing.
    {"blob": "x" * (MAX_DATA_BYTES - 11)},
    {"blob": "x" * (MAX_DATA_BYTES - 10)},
    {"blob": "é" * ((MAX_DATA_BYTES - 11) // 2)},
    {"blob": "é" * ((MAX_DATA_BYTES - 11) // 2 + 1)},
    {"floats": [1e-05] * ((MAX_DATA_BYTES - 12) // 6)},
    {"floats": [1e-05] * ((MAX_DATA_BYTES - 12) // 6 + 1)},
    {"floats": [1e16] * ((MAX_DATA_BYTES - 12) // 6)},
]


@pytest.mark.parametrize("data", VALUES, ids=range(len(VALUES)))
def test_both_paths_decide_alike(data: Any) -> None:
    assert outcome(_checked_data, data) == outcome(_checked_data_by_json, data)


def test_random_plain_data_decides_alike() -> None:
    rng = random.Random(15)
    scalars = [
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.randint(-100, 100),
        lambda: rng.uniform(-1e300, 1e300),
        lambda: rng.random() * 10 ** rng.randint(-30, 30),
        lambda: rng.choice([True, False, None, float("nan"), "", "ä\n\"'\\"]),
        lambda: "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 8))),
    ]

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth < 4 and roll < 0.2:
            return {f"k{i}": value(depth + 1) for i in range(rng.randint(0, 4))}
        if depth < 4 and roll < 0.35:
            items = [value(depth + 1) for _ in range(rng.randint(0, 4))]
            return items if rng.random() < 0.5 else tuple(items)
        return rng.choice(scalars)()

    for _ in range(3_000):
        data = {f"k{i}": value(0) for i in range(rng.randint(0, 5))}
        assert outcome(_checked_data, data) == outcome(_checked_data_by_json, data), data


def test_the_fast_record_is_the_record() -> None:
    values: list[Any] = [
        new_record_id(),
        "n1",
        "event",
        {"a": 1},
        Users(("bob",)),
        datetime(2026, 1, 1, tzinfo=UTC),
        "dedup",
        "origin",
        "dead",
        3,
        "boom",
        datetime(2026, 1, 2, tzinfo=UTC),
        "retract",
        "key",
    ]
    fast = outbox_record(*values)
    slow = OutboxRecord(*values)
    assert type(fast) is OutboxRecord
    assert fast == slow and hash(fast.audience) == hash(slow.audience)
    assert repr(fast) == repr(slow)
    assert dataclasses.astuple(fast) == dataclasses.astuple(slow)
    assert dataclasses.replace(fast, kind="notify") == dataclasses.replace(slow, kind="notify")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.status = "pending"  # type: ignore[misc]


def test_record_ids_are_32_hex_digits_and_distinct() -> None:
    ids = {new_record_id() for _ in range(1_000)}
    assert len(ids) == 1_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
