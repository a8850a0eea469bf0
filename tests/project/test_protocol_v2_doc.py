"""The v2 contract page stays true: its example frames have exactly the fields the server
sends, and every test file it names as proof exists."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from delivery.frames_v2 import (
    encode_caught_up_v2,
    encode_stream_item,
    encode_welcome_v2,
)
from outbox.records import InboxEntry, Notification
from outbox.stream import ChangeOp, Counts, StreamChange, StreamHead, StreamNotification

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "protocol-v2.md"
FRAME = re.compile(r"<!-- frame: (?P<name>\w+) -->\n```json\n(?P<json>.*?)\n```", re.DOTALL)
T = datetime(2026, 12, 3, 10, tzinfo=UTC)


def documented() -> dict[str, dict[str, object]]:
    return {m["name"]: json.loads(m["json"]) for m in FRAME.finditer(PAGE.read_text())}


def sent() -> dict[str, dict[str, object]]:
    note = Notification("n", "family_invite", {"family": "f-1"}, T)
    entry = InboxEntry("alice", 5, note, T)
    frames = {
        "welcome": encode_welcome_v2("alice", StreamHead(7, 5, Counts(2, 4)), 5, True, "phone"),
        "notification": encode_stream_item(StreamNotification(entry, 6, Counts(3, 4), 2)),
        "state": encode_stream_item(
            StreamChange("alice", 7, ChangeOp.READ, (3, 5), None, Counts(2, 4), T)
        ),
        "caught_up": encode_caught_up_v2(7),
    }
    return {name: orjson.loads(text) for name, text in frames.items()}


@pytest.mark.parametrize("name", ["welcome", "notification", "state", "caught_up"])
def test_each_example_frame_has_the_fields_the_server_sends(name: str) -> None:
    example, real = documented()[name], sent()[name]
    assert list(example) == list(real)
    assert example["type"] == real["type"]
    for field in ("pos", "seq", "head", "since", "seq_head", "counts", "op", "seqs", "upto"):
        if field in real:
            assert example[field] == real[field], field


def test_the_proofs_it_names_exist() -> None:
    named = set(re.findall(r"`(tests/[\w/]+\.py)`", PAGE.read_text()))
    assert named
    assert [path for path in sorted(named) if not (ROOT / path).exists()] == []
