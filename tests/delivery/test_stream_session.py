"""The protocol v2 session, driven as its endpoint drives it, with a list for the store.

No sockets, no clock. The v1 session's rules are tested in test_session.py; here, what v2
changes (frames, reads, acks, marks) and G5 over stream positions under random interleavings.
"""

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from delivery.actions import (
    Action,
    ApplyMark,
    Close,
    ReadInbox,
    ReadStream,
    Send,
    StoreAck,
    StoreStreamAck,
    VerifyRefresh,
)
from delivery.limits import SessionLimits
from delivery.session import SessionState
from delivery.stream_session import StreamSession
from outbox.records import AckOutcome, InboxEntry, Notification
from outbox.stream import (
    ChangeOp,
    Counts,
    Mark,
    MarkOutcome,
    MarkResult,
    StreamChange,
    StreamHead,
    StreamItem,
    StreamNotification,
)
from tests.stream_view import DeviceView

USER = "alice"
CREATED = datetime(2024, 5, 1, 12, tzinfo=UTC)
EXPIRES = 1_000.0


class Stream:
    """One user's stream in the store: every third entry a change, the others notifications."""

    def __init__(self, head: int = 0, first: int = 1) -> None:
        self.items: list[StreamItem] = []
        self.seq = 0
        for pos in range(1, head + 1):
            self._add(pos)
        self.items = [item for item in self.items if item.pos >= first]

    @property
    def head(self) -> int:
        return self.items[-1].pos if self.items else 0

    def _add(self, pos: int, user: str = USER) -> StreamItem:
        counts = Counts(pos, pos + 1)
        if pos % 3 == 0 and self.seq:
            item: StreamItem = StreamChange(
                user, pos, ChangeOp.READ, (self.seq,), None, counts, CREATED
            )
        else:
            self.seq += 1
            note = Notification(f"{user}-{self.seq}", "thing_done", {"pos": pos}, CREATED)
            entry = InboxEntry(user, self.seq, note, CREATED)
            item = StreamNotification(entry, pos, counts, None)
        self.items.append(item)
        return item

    def append(self) -> StreamItem:
        return self._add(self.head + 1)

    def read(self, action: ReadStream) -> list[StreamItem]:
        return [i for i in self.items if i.pos > action.after_pos][: action.limit]


def make(since: int | None = None, **limits: Any) -> StreamSession:
    chosen = SessionLimits(**{"page_size": 500, "live_buffer_limit": 100, **limits})
    return StreamSession(USER, "phone", since, expires_at=EXPIRES, limits=chosen)


def frames(actions: Sequence[Action]) -> list[dict[str, Any]]:
    return [orjson.loads(action.text) for action in actions if isinstance(action, Send)]


def run(session: StreamSession, stream: Stream, actions: list[Action]) -> list[Action]:
    done: list[Action] = []
    for _ in range(1000):
        done.extend(actions)
        last = actions[-1] if actions else None
        if not isinstance(last, ReadStream):
            return done
        actions = session.replay_stream(stream.read(last))
    raise AssertionError("the session keeps reading")


def head_of(stream: Stream) -> StreamHead:
    return StreamHead(stream.head, stream.seq, Counts(7, 9))


# Frames.


def test_the_welcome_carries_positions_the_v1_head_and_the_counts() -> None:
    session, stream = make(since=2), Stream(5)

    actions = run(session, stream, session.open_stream(head_of(stream), acked=0))

    sent = frames(actions)
    assert sent[0] == {
        "type": "welcome",
        "v": 2,
        "user_id": USER,
        "head": 5,
        "since": 2,
        "recovered": True,
        "device": "phone",
        "seq_head": 4,
        "counts": {"unread": 7, "unarchived": 9},
    }
    assert [f["type"] for f in sent[1:]] == ["state", "notification", "notification", "caught_up"]
    assert sent[-1] == {"type": "caught_up", "pos": 5}
    assert sent[1] == {
        "type": "state",
        "pos": 3,
        "op": "read",
        "seqs": [2],
        "upto": None,
        "at": "2024-05-01T12:00:00Z",
        "counts": {"unread": 3, "unarchived": 4},
    }
    assert sent[2]["pos"] == 4 and sent[2]["seq"] == 3 and sent[2]["replaces"] is None


def test_reads_are_stream_reads_and_resume_from_the_stream_ack() -> None:
    session, stream = make(), Stream(6)

    actions = session.open_stream(head_of(stream), acked=4)

    assert actions == [ReadStream(4, 500)]
    done = run(session, stream, actions)
    assert [f.get("pos") for f in frames(done)[1:]] == [5, 6, 6]


def test_a_since_older_than_the_retained_stream_is_not_recovered() -> None:
    session, stream = make(since=1), Stream(6, first=4)

    sent = frames(run(session, stream, session.open_stream(head_of(stream), acked=0)))

    assert sent[0]["recovered"] is False
    assert [f["pos"] for f in sent[1:-1]] == [4, 5, 6]


def test_live_stream_entries_continue_the_stream_and_a_gap_is_read() -> None:
    session, stream = make(), Stream(2)
    run(session, stream, session.open_stream(head_of(stream), acked=0))
    third, fourth, fifth = stream.append(), stream.append(), stream.append()

    assert [f["pos"] for f in frames(session.live_stream([third]))] == [3]
    actions = session.live_stream([fifth])
    assert actions == [ReadStream(3, 500)]
    assert [f["pos"] for f in frames(session.replay_stream([fourth, fifth]))] == [4, 5]
    assert fourth


def test_client_frames_of_v2() -> None:
    session = make()
    session.open_stream(StreamHead(3, 2), acked=0)

    assert session.receive_text('{"type":"ack","pos":3}', 1.0) == [StoreStreamAck(3)]
    assert session.receive_text('{"type":"mark","op":"read","seqs":[2,1,2]}', 1.0) == [
        ApplyMark(Mark(ChangeOp.READ, (1, 2)))
    ]
    assert session.receive_text('{"type":"mark","op":"archive","upto":2}', 1.0) == [
        ApplyMark(Mark(ChangeOp.ARCHIVE, upto=2))
    ]
    assert session.receive_text('{"type":"refresh","token":"t"}', 1.0) == [VerifyRefresh("t")]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type":"ack","seq":3}', "invalid_ack"),
        ('{"type":"ack","pos":-1}', "invalid_ack"),
        ('{"type":"mark","op":"retract","seqs":[1]}', "invalid_mark"),
        ('{"type":"mark","op":"trim","upto":1}', "invalid_mark"),
        ('{"type":"mark","op":"read"}', "invalid_mark"),
        ('{"type":"mark","op":"read","seqs":[1],"upto":2}', "invalid_mark"),
        ('{"type":"mark","op":"read","seqs":[]}', "invalid_mark"),
        ('{"type":"mark","op":"read","seqs":[0]}', "invalid_mark"),
        ('{"type":"mark","op":"read","seqs":[true]}', "invalid_mark"),
        ('{"type":"mark","op":"read","seqs":[1.5]}', "invalid_mark"),
        ('{"type":"mark","op":"read","seqs":"1"}', "invalid_mark"),
        ('{"type":"mark","op":"read","upto":"3"}', "invalid_mark"),
        ('{"type":"mark","op":"read","seqs":' + str(list(range(1, 502))) + "}", "invalid_mark"),
        ('{"type":"hello"}', "unknown_type"),
        ("[]", "invalid_frame"),
        ("{", "invalid_json"),
    ],
)
def test_bad_v2_client_frames_get_an_error_frame(text: str, code: str) -> None:
    session = make()
    session.open_stream(StreamHead(3, 2), acked=0)
    [error] = frames(session.receive_text(text, 1.0))
    assert (error["type"], error["code"]) == ("error", code)
    assert text not in error["message"]


def test_a_too_big_v2_frame_closes_with_1009() -> None:
    session = make(max_frame_bytes=64)
    assert session.receive_text('{"type":"mark","op":"read","seqs":[' + "1," * 40 + "1]}", 1.0) == [
        Close(1009, "frame too big")
    ]


def test_stream_ack_outcomes_answer_as_v1_acks_do() -> None:
    session = make()
    session.open_stream(StreamHead(3, 2), acked=0)
    assert session.ack_result(3, AckOutcome.STORED) == []
    [error] = frames(session.ack_result(9, AckOutcome.ABOVE_HEAD))
    assert error["code"] == "ack_above_head"


def test_mark_results() -> None:
    session, stream = make(), Stream(2)
    run(session, stream, session.open_stream(head_of(stream), acked=0))
    change = StreamChange(USER, 3, ChangeOp.ARCHIVE, (1,), None, Counts(2, 1), CREATED)
    head = StreamHead(3, 2, Counts(2, 1))

    [error] = frames(session.mark_result(MarkResult(MarkOutcome.ABOVE_HEAD, head)))
    assert error["code"] == "seq_above_head"
    assert session.mark_result(MarkResult(MarkOutcome.UNCHANGED, head)) == []
    [state] = frames(session.mark_result(MarkResult(MarkOutcome.APPLIED, head, change)))
    assert (state["type"], state["pos"], state["op"]) == ("state", 3, "archive")
    # The live signal of the same change, arriving later, is a duplicate.
    assert session.live_stream([change]) == []


def test_v1_reads_and_acks_never_come_from_a_v2_session() -> None:
    session, stream = make(), Stream(4)
    actions = run(session, stream, session.open_stream(head_of(stream), acked=1))
    actions += session.receive_text('{"type":"ack","pos":2}', 1.0)
    assert not any(isinstance(a, ReadInbox | StoreAck) for a in actions)


# G5 over stream positions, under random interleavings.


class Loop:
    """The endpoint's loop around one session: a lossy, repeating, reordering live channel
    and reads executed one step after they are issued."""

    def __init__(self, rng: random.Random, stream: Stream, session: StreamSession) -> None:
        self.rng, self.stream, self.session = rng, stream, session
        self.channel: list[StreamItem] = []
        self.read: ReadStream | None = None
        self.sent: list[Action] = []

    def take(self, actions: list[Action]) -> None:
        self.sent.extend(actions)
        if actions and isinstance(actions[-1], ReadStream):
            self.read = actions[-1]

    def commit(self) -> None:
        item = self.stream.append()
        if self.rng.random() > 0.15:  # else the signal is lost; a later one shows the gap
            self.channel.extend([item] * self.rng.randint(1, 2))

    def deliver(self) -> None:
        count = self.rng.randint(1, len(self.channel))
        batch = [self.channel.pop(self.rng.randrange(len(self.channel))) for _ in range(count)]
        self.take(self.session.live_stream(batch))

    def answer(self) -> None:
        assert self.read is not None
        read, self.read = self.read, None
        self.take(self.session.replay_stream(self.stream.read(read)))

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.3:
            self.commit()
        elif roll < 0.6 and self.channel:
            self.deliver()
        elif self.read is not None:
            self.answer()

    def settle(self) -> None:
        self.take(self.session.resync())  # everything published is known by now
        while self.read is not None or self.channel:
            if self.channel:
                self.deliver()
            else:
                self.answer()


def simulate(seed: int) -> None:
    rng = random.Random(seed)
    stream = Stream(rng.randint(0, 20), first=rng.choice((1, 1, 3)))
    since = rng.choice((None, rng.randint(0, stream.head)))
    session = make(since, page_size=rng.randint(1, 5), live_buffer_limit=rng.randint(1, 6))
    loop = Loop(rng, stream, session)
    loop.take(session.open_stream(head_of(stream), rng.randint(0, stream.head)))
    for _ in range(rng.randint(0, 120)):
        loop.step()
    loop.settle()

    welcome, *rest = frames(loop.sent)
    device = DeviceView(strict=False, position=welcome["since"])
    for frame in rest:
        if frame["type"] in ("notification", "state"):
            device.apply_frame(frame)  # each position once, ascending
    positions = [f["pos"] for f in rest if f["type"] in ("notification", "state")]
    assert positions == [i.pos for i in stream.items if i.pos > welcome["since"]], seed
    assert [f["type"] for f in rest].count("caught_up") == 1, seed
    assert session.state is SessionState.LIVE and session.last_sent == stream.head, seed


@pytest.mark.parametrize("block", range(4))
def test_every_retained_position_is_sent_once_in_order_whatever_the_interleaving(
    block: int,
) -> None:
    for seed in range(block * 100, (block + 1) * 100):
        simulate(seed)
