"""The delivery session, driven as the endpoint drives it, with a list standing in for the store.

No sockets, no clock: ``now`` is passed in.
"""

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from delivery.actions import (
    Action,
    Close,
    ReadInbox,
    Send,
    StoreAck,
    VerifyRefresh,
)
from delivery.frames import encode_notification
from delivery.limits import SessionLimits
from delivery.session import (
    DeliverySession,
    SessionState,
)
from outbox.records import AckOutcome, InboxEntry, Notification

USER = "alice"
CREATED = datetime(2024, 5, 1, 12, tzinfo=UTC)
EXPIRES = 1_000.0


def entry(seq: int, user: str = USER) -> InboxEntry:
    note = Notification(f"{user}-{seq}", "family_member_joined", {"seq": seq}, CREATED)
    return InboxEntry(user, seq, note, CREATED)


def entries(*seqs: int) -> list[InboxEntry]:
    return [entry(seq) for seq in seqs]


def make(
    since: int | None = None, *, expires_at: float = EXPIRES, **limits: Any
) -> DeliverySession:
    """A session of USER's phone; ``limits`` override ``SessionLimits`` fields."""
    chosen = SessionLimits(**{"page_size": 500, "live_buffer_limit": 100, **limits})
    return DeliverySession(USER, "phone", since, expires_at=expires_at, limits=chosen)


def frames(actions: Sequence[Action]) -> list[dict[str, Any]]:
    return [orjson.loads(action.text) for action in actions if isinstance(action, Send)]


def sent_seqs(actions: Sequence[Action]) -> list[int]:
    return [frame["seq"] for frame in frames(actions) if frame["type"] == "notification"]


def types(actions: Sequence[Action]) -> list[str]:
    return [frame["type"] for frame in frames(actions)]


class Inbox:
    """The store's inbox of one user: entries from ``first`` to ``head`` (older ones trimmed)."""

    def __init__(self, head: int, first: int = 1) -> None:
        self.entries = entries(*range(first, head + 1))

    @property
    def head(self) -> int:
        return self.entries[-1].seq if self.entries else 0

    def append(self, count: int = 1) -> list[InboxEntry]:
        new = entries(*range(self.head + 1, self.head + 1 + count))
        self.entries.extend(new)
        return new

    def read(self, action: ReadInbox) -> list[InboxEntry]:
        return [e for e in self.entries if e.seq > action.after_seq][: action.limit]


def run(session: DeliverySession, inbox: Inbox, actions: list[Action]) -> list[Action]:
    """Execute actions as the endpoint would, answering every read at once from ``inbox``."""
    done: list[Action] = []
    for _ in range(1000):
        done.extend(actions)
        last = actions[-1] if actions else None
        if not isinstance(last, ReadInbox):
            return done
        actions = session.replay_page(inbox.read(last))
    raise AssertionError("the session keeps reading")


def last_read(actions: Sequence[Action]) -> ReadInbox:
    assert isinstance(actions[-1], ReadInbox)
    return actions[-1]


def reads(actions: Sequence[Action]) -> list[ReadInbox]:
    return [action for action in actions if isinstance(action, ReadInbox)]


# Start position and replay.


def test_fresh_device_starts_live_at_head_without_reading() -> None:
    session = make()
    actions = session.open(head=5, acked=0)
    assert frames(actions) == [
        {
            "type": "welcome",
            "user_id": USER,
            "head": 5,
            "since": 5,
            "recovered": True,
            "device": "phone",
        },
        {"type": "caught_up", "seq": 5},
    ]
    assert session.state is SessionState.LIVE
    assert session.last_sent == 5


def test_omitted_since_resumes_from_the_stored_ack() -> None:
    session, inbox = make(), Inbox(5)
    actions = session.open(head=5, acked=3)
    assert actions == [ReadInbox(3, 500)]
    done = run(session, inbox, actions)
    assert types(done) == ["welcome", "notification", "notification", "caught_up"]
    assert sent_seqs(done) == [4, 5]
    assert frames(done)[0]["since"] == 3


def test_given_since_wins_over_the_stored_ack() -> None:
    session, inbox = make(since=1), Inbox(5)
    done = run(session, inbox, session.open(head=5, acked=4))
    assert sent_seqs(done) == [2, 3, 4, 5]


def test_replay_reads_page_by_page_then_catches_up() -> None:
    session, inbox = make(since=2, page_size=3), Inbox(10)
    done = run(session, inbox, session.open(head=10, acked=0))
    assert [read.after_seq for read in reads(done)] == [2, 5, 8]
    assert types(done)[0] == "welcome"
    assert sent_seqs(done) == list(range(3, 11))
    assert frames(done)[-1] == {"type": "caught_up", "seq": 10}
    assert session.state is SessionState.LIVE
    assert not session.awaiting_read


def test_a_full_last_page_costs_one_more_read() -> None:
    session, inbox = make(since=0, page_size=5), Inbox(10)
    done = run(session, inbox, session.open(head=10, acked=0))
    assert [read.after_seq for read in reads(done)] == [0, 5, 10]
    assert sent_seqs(done) == list(range(1, 11))
    assert types(done).count("caught_up") == 1


def test_since_equal_to_head_replays_nothing() -> None:
    session = make(since=7)
    assert types(session.open(head=7, acked=2)) == ["welcome", "caught_up"]
    assert session.recovered is True


def test_empty_inbox() -> None:
    session = make(since=0)
    actions = session.open(head=0, acked=0)
    assert types(actions) == ["welcome", "caught_up"]
    assert (frames(actions)[0]["since"], frames(actions)[1]["seq"]) == (0, 0)


# G7.


def test_trimmed_store_below_since_reports_not_recovered() -> None:
    session, inbox = make(since=2), Inbox(10, first=5)
    done = run(session, inbox, session.open(head=10, acked=0))
    assert frames(done)[0]["recovered"] is False
    assert sent_seqs(done) == [5, 6, 7, 8, 9, 10]
    assert frames(done)[-1] == {"type": "caught_up", "seq": 10}


def test_store_holding_since_plus_one_is_recovered() -> None:
    session, inbox = make(since=4), Inbox(10, first=5)
    done = run(session, inbox, session.open(head=10, acked=0))
    assert frames(done)[0]["recovered"] is True
    assert sent_seqs(done) == [5, 6, 7, 8, 9, 10]


def test_everything_trimmed_is_not_recovered_and_continues_at_head() -> None:
    session, inbox = make(since=2), Inbox(0)
    done = run(session, inbox, session.open(head=10, acked=0))
    assert types(done) == ["welcome", "caught_up"]
    assert frames(done)[0]["recovered"] is False
    assert frames(done)[-1]["seq"] == 10
    assert sent_seqs(session.live([entry(11)])) == [11]


def test_since_above_head_is_not_recovered_and_starts_live_at_head() -> None:
    session = make(since=20)
    actions = session.open(head=10, acked=0)
    welcome = frames(actions)[0]
    assert (welcome["recovered"], welcome["since"], welcome["head"]) == (False, 10, 10)
    assert types(actions) == ["welcome", "caught_up"]
    assert sent_seqs(session.live([entry(11)])) == [11]


def test_trim_during_live_gap_moves_past_the_missing_seqs() -> None:
    session = make(since=10)
    session.open(head=10, acked=0)
    assert session.live([entry(14)]) == [ReadInbox(10, 500)]
    done = session.replay_page(entries(13, 14))  # 11 and 12 are gone from the store
    assert sent_seqs(done) == [13, 14]
    assert sent_seqs(session.live([entry(15)])) == [15]
    assert "caught_up" not in types(done)


# The replay-to-live handoff.


def test_live_entries_during_replay_are_neither_lost_nor_duplicated() -> None:
    session, inbox = make(since=0, page_size=2), Inbox(4)
    read = session.open(head=4, acked=0)
    assert session.live(entries(2, 3)) == []  # within the replay: duplicates to come
    inbox.append(2)
    assert session.live(entries(6, 5)) == []  # beyond it: held until the replay ends
    done = run(session, inbox, read)
    assert sent_seqs(done) == [1, 2, 3, 4, 5, 6]
    assert frames(done)[-1] == {"type": "caught_up", "seq": 6}
    assert sent_seqs(session.live(entries(5, 6, 7))) == [7]


def test_live_entries_before_open_are_held() -> None:
    session = make(since=3)
    assert session.live(entries(2, 4, 5)) == []
    actions = session.open(head=3, acked=0)
    assert types(actions) == ["welcome", "notification", "notification", "caught_up"]
    assert sent_seqs(actions) == [4, 5]
    assert frames(actions)[-1]["seq"] == 5


def test_a_gap_in_entries_held_before_open_reads_the_store() -> None:
    session = make(since=3)
    session.live([entry(5)])
    actions = session.open(head=3, acked=0)
    assert types(actions) == ["welcome"]
    assert actions[-1] == ReadInbox(3, 500)
    done = session.replay_page(entries(4, 5))
    assert types(done) == ["notification", "notification", "caught_up"]


def frames_text(seq: int) -> str:
    return encode_notification(entry(seq))


def test_live_entry_continuing_the_stream_goes_straight_out() -> None:
    session = make()
    session.open(head=3, acked=0)
    assert session.live([entry(4)]) == [Send(frames_text(4))]
    assert session.live([entry(4)]) == []
    assert session.live(entries(6, 5)) == [Send(frames_text(5)), Send(frames_text(6))]


def test_live_gap_reads_the_store_and_holds_later_entries() -> None:
    session = make()
    session.open(head=10, acked=0)
    assert session.live([entry(12)]) == [ReadInbox(10, 500)]
    assert session.live([entry(13)]) == []
    assert session.buffered == 2
    done = session.replay_page(entries(11, 12))
    assert sent_seqs(done) == [11, 12, 13]
    assert "caught_up" not in types(done)
    assert session.buffered == 0
    assert not session.awaiting_read


def test_out_of_order_live_entries_read_instead_of_skipping() -> None:
    session = make()
    session.open(head=10, acked=0)
    assert session.live([entry(12)]) == [ReadInbox(10, 500)]
    assert session.live([entry(11)]) == []  # the late one: the read will bring it too
    assert sent_seqs(session.replay_page(entries(11, 12))) == [11, 12]


def test_gap_fill_overlapping_held_entries_sends_each_once() -> None:
    session = make()
    session.open(head=10, acked=0)
    session.live(entries(12, 13))
    done = session.replay_page(entries(11, 12, 13, 14))
    assert sent_seqs(done) == [11, 12, 13, 14]
    assert sent_seqs(session.live(entries(13, 14, 15))) == [15]


def test_short_read_does_not_skip_what_was_committed_after_it_was_issued() -> None:
    session = make()
    session.open(head=5, acked=0)
    assert session.live([entry(7)]) == [ReadInbox(5, 500)]  # 6's signal was missed
    assert session.live([entry(9)]) == []  # so was 8's, while the read ran
    done = session.replay_page(entries(6, 7))  # the read ran before 8 and 9 committed
    assert sent_seqs(done) == [6, 7]
    assert done[-1] == ReadInbox(7, 500)
    assert sent_seqs(session.replay_page(entries(8, 9))) == [8, 9]


def test_buffer_overflow_during_replay_reads_the_store_instead() -> None:
    session, inbox = make(since=0, page_size=10, live_buffer_limit=2), Inbox(3)
    # The read runs before 4, 5 and 6 commit.
    first_page = inbox.read(last_read(session.open(head=3, acked=0)))
    session.live(inbox.append(3))  # one more than the buffer holds
    assert session.buffered == 0
    assert not session.closed
    done = run(session, inbox, session.replay_page(first_page))
    assert sent_seqs(done) == [1, 2, 3, 4, 5, 6]
    assert reads(done) == [ReadInbox(3, 10)]
    assert frames(done)[-1] == {"type": "caught_up", "seq": 6}


def test_resync_when_live_reads_after_the_last_sent() -> None:
    session, inbox = make(), Inbox(5)
    session.open(head=5, acked=0)
    inbox.append(2)  # their signals were lost
    actions = session.resync()
    assert actions == [ReadInbox(5, 500)]
    done = run(session, inbox, actions)
    assert sent_seqs(done) == [6, 7]
    assert "caught_up" not in types(done)


def test_resync_during_a_read_reads_again_after_it() -> None:
    session, inbox = make(since=0), Inbox(3)
    stale = inbox.read(last_read(session.open(head=3, acked=0)))
    inbox.append(1)
    assert session.resync() == []
    done = session.replay_page(stale)
    assert done[-1] == ReadInbox(3, 500)
    assert types(done).count("caught_up") == 0
    assert types(session.replay_page(inbox.read(done[-1]))) == ["notification", "caught_up"]


def test_resync_before_open_reads_even_with_nothing_to_replay() -> None:
    session = make()
    session.resync()
    actions = session.open(head=4, acked=0)
    assert types(actions) == ["welcome"]
    assert actions[-1] == ReadInbox(4, 500)


def test_other_users_entries_are_ignored() -> None:
    session = make(since=0)
    read = session.open(head=2, acked=0)
    assert session.live([entry(3, user="mallory")]) == []
    done = session.replay_page([entry(1), entry(1, user="mallory"), entry(2)])
    assert sent_seqs(done) == [1, 2]
    assert [f["id"] for f in frames(done) if f["type"] == "notification"] == ["alice-1", "alice-2"]
    assert read == [ReadInbox(0, 500)]
    assert session.live([entry(3, user="mallory"), entry(4, user="mallory")]) == []
    assert session.last_sent == 2


def test_replay_page_without_a_read_is_a_bug() -> None:
    session = make()
    session.open(head=0, acked=0)
    with pytest.raises(RuntimeError):
        session.replay_page([])
    with pytest.raises(RuntimeError):
        session.open(head=0, acked=0)


# Broadcasts.


def broadcast_note(name: str) -> Notification:
    return Notification(name, "maintenance", {}, CREATED)


def test_broadcasts_before_the_welcome_follow_it() -> None:
    session = make(since=0)
    assert session.broadcast(broadcast_note("b1")) == []
    read = session.open(head=1, acked=0)
    assert session.broadcast(broadcast_note("b2")) == []
    done = session.replay_page(entries(1))
    assert types(done) == ["welcome", "broadcast", "broadcast", "notification", "caught_up"]
    assert read == [ReadInbox(0, 500)]
    assert types(session.broadcast(broadcast_note("b3"))) == ["broadcast"]


def test_broadcasts_held_before_the_welcome_are_bounded() -> None:
    session = make(live_buffer_limit=2)
    for name in ("b1", "b2", "b3"):
        session.broadcast(broadcast_note(name))
    assert types(session.open(head=0, acked=0)) == [
        "welcome",
        "broadcast",
        "broadcast",
        "caught_up",
    ]


# Client frames.


def ack(seq: int) -> str:
    return orjson.dumps({"type": "ack", "seq": seq}).decode()


def test_ack_goes_to_the_store_which_decides() -> None:
    session = make()
    session.open(head=5, acked=0)
    assert session.receive_text(ack(9), 1.0) == [StoreAck(9)]  # above what was sent: store
    assert session.ack_result(9, AckOutcome.STORED) == []
    assert session.ack_result(9, AckOutcome.UNCHANGED) == []
    assert frames(session.ack_result(2, AckOutcome.STALE))[0]["code"] == "ack_stale"
    above = frames(session.ack_result(99, AckOutcome.ABOVE_HEAD))
    assert above[0]["type"] == "error"
    assert above[0]["code"] == "ack_above_head"


def test_fifty_bad_frames_get_errors_and_the_51st_closes_4400() -> None:
    session = make()
    session.open(head=0, acked=0)
    for index in range(50):
        actions = session.receive_text("nope", index * 0.1)
        assert types(actions) == ["error"]
        assert frames(actions)[0]["code"] == "invalid_json"
    assert session.receive_text(ack(0), 5.0) == [StoreAck(0)]  # good frames do not count
    actions = session.receive_text('{"type":"x"}', 5.1)
    assert types(actions) == ["error"]
    assert actions[-1] == Close(4400, "too many bad frames")
    assert session.closed


def frames_at(session: DeliverySession, count: int, start: float) -> list[Action]:
    """``count`` valid frames spread evenly over the second starting at ``start``."""
    actions: list[Action] = []
    for index in range(count):
        actions.extend(session.receive_text(ack(1), start + index / (count + 1)))
    return actions


def closes(actions: Sequence[Action]) -> list[Close]:
    return [action for action in actions if isinstance(action, Close)]


def test_100_frames_a_second_is_allowed_indefinitely() -> None:
    session = make(expires_at=1e9)
    session.open(head=0, acked=0)
    for second in range(5):
        assert closes(frames_at(session, 100, 100.0 + second)) == []
    assert not session.closed


def test_101_frames_a_second_for_two_seconds_closes_4429() -> None:
    session = make()
    session.open(head=0, acked=0)
    assert closes(frames_at(session, 101, 100.0)) == []
    assert closes(frames_at(session, 100, 101.0)) == []
    actions = session.receive_text(ack(1), 101.999)
    assert actions == [Close(4429, "too many frames")]


def test_a_quiet_second_between_busy_ones_resets_the_streak() -> None:
    session = make()
    session.open(head=0, acked=0)
    assert closes(frames_at(session, 101, 100.0)) == []
    assert closes(frames_at(session, 100, 101.0)) == []
    assert closes(frames_at(session, 101, 102.0)) == []
    assert closes(frames_at(session, 10, 104.0)) == []  # second 103 had none
    assert closes(frames_at(session, 101, 105.0)) == []
    assert not session.closed


def test_a_one_second_burst_is_not_sustained() -> None:
    session = make()
    session.open(head=0, acked=0)
    assert closes(frames_at(session, 1000, 100.0)) == []
    assert closes(frames_at(session, 50, 101.0)) == []
    assert not session.closed


def test_binary_frame_closes_1003_and_the_session_stays_closed() -> None:
    session = make()
    session.open(head=3, acked=0)
    assert session.receive_binary() == [Close(1003, "binary frames are not supported")]
    assert session.state is SessionState.CLOSED
    assert session.receive_binary() == []
    assert session.receive_text(ack(1), 1.0) == []
    assert session.live([entry(4)]) == []
    assert session.broadcast(broadcast_note("b")) == []
    assert session.resync() == []
    assert session.tick(1e9) == []
    assert session.ack_result(1, AckOutcome.STALE) == []
    assert session.refresh_result(None, None) == []
    assert session.close(1001, "bye") == []


def test_closed_while_reading_ignores_the_page() -> None:
    session = make(since=0)
    session.open(head=3, acked=0)
    assert session.close(4408, "too slow") == [Close(4408, "too slow")]
    assert session.replay_page(entries(1, 2, 3)) == []


def test_frame_too_big_closes_1009() -> None:
    session = make(max_frame_bytes=1024)
    session.open(head=0, acked=0)
    text = orjson.dumps({"type": "refresh", "token": "x" * 1024}).decode()
    assert session.receive_text(text, 1.0) == [Close(1009, "frame too big")]


# Token expiry and refresh.


def refresh(token: str = "fresh.jwt") -> str:
    return orjson.dumps({"type": "refresh", "token": token}).decode()


def test_expiry_closes_4401() -> None:
    session = make()
    session.open(head=0, acked=0)
    assert session.tick(EXPIRES - 0.001) == []
    assert session.tick(EXPIRES) == [Close(4401, "token expired")]


def test_expiry_is_checked_on_every_frame() -> None:
    session = make()
    session.open(head=0, acked=0)
    assert session.receive_text(ack(0), EXPIRES) == [Close(4401, "token expired")]


def test_refresh_for_the_same_user_extends_the_connection() -> None:
    session = make()
    session.open(head=0, acked=0)
    assert session.receive_text(refresh(), EXPIRES - 1) == [VerifyRefresh("fresh.jwt")]
    assert session.refresh_result(USER, EXPIRES + 100) == []
    assert session.expires_at == EXPIRES + 100
    assert session.tick(EXPIRES + 50) == []
    assert session.tick(EXPIRES + 100) == [Close(4401, "token expired")]


def test_refresh_never_shortens_the_connection() -> None:
    session = make()
    session.refresh_result(USER, EXPIRES - 100)
    assert session.tick(EXPIRES - 50) == []


@pytest.mark.parametrize(("user", "expires"), [("mallory", EXPIRES + 100), (None, None)])
def test_refresh_for_another_user_or_invalid_closes_4401(
    user: str | None, expires: float | None
) -> None:
    session = make()
    session.open(head=0, acked=0)
    assert session.refresh_result(user, expires) == [Close(4401, "refresh token refused")]


def test_tokens_stay_out_of_action_reprs() -> None:
    assert "fresh.jwt" not in repr(VerifyRefresh("fresh.jwt"))


# G5 under random interleavings.


class World:
    """A store, a live channel that drops, repeats and reorders, and the endpoint's loop.

    Reads run in two steps (executed against the store, later fed to the session), so live
    entries and commits interleave with reads the way they do on a real event loop.
    """

    def __init__(self, rng: random.Random, backlog: int) -> None:
        self.rng = rng
        self.inbox = Inbox(backlog)
        self.channel: list[InboxEntry] = []  # published, not yet delivered
        self.outage = False
        self.unrevealed = False  # a signal was lost and no later one was published yet
        self.read: ReadInbox | None = None  # issued, not yet executed
        self.result: list[InboxEntry] | None = None  # executed, not yet fed back
        self.sent: list[Action] = []
        self.session = make()  # replaced by ``connect``
        self.buffer_limit = 0

    def connect(self, session: DeliverySession, head: int, acked: int, buffer_limit: int) -> None:
        self.session, self.buffer_limit = session, buffer_limit
        for _ in range(self.rng.randint(0, 4)):  # between the head read and open()
            self.step()
        self.take(session.open(head, acked))

    def commit(self, *, may_drop: bool = True) -> None:
        new = self.inbox.append()[0]
        roll = self.rng.random()
        if self.outage:
            return  # lost; the resync that ends the outage must recover it
        if roll < 0.1 and may_drop:
            self.unrevealed = True  # lost; only a later signal shows the gap
            return
        self.unrevealed = False
        self.channel.extend([new, new] if roll > 0.9 else [new])
        if roll < 0.15:
            self.channel.append(entry(new.seq, user="mallory"))

    def take(self, actions: list[Action]) -> None:
        for action in actions[:-1]:
            assert isinstance(action, Send), "ReadInbox and Close come last"
        assert not any(isinstance(action, Close) for action in actions)
        if actions and isinstance(actions[-1], ReadInbox):
            assert self.read is None and self.result is None, "one read at a time"
            self.read = actions[-1]
        self.sent.extend(actions)
        assert self.session.buffered <= self.buffer_limit

    def deliver(self) -> None:
        count = self.rng.randint(1, len(self.channel))
        batch = [self.channel.pop(self.rng.randrange(len(self.channel))) for _ in range(count)]
        self.take(self.session.live(batch))

    def execute_read(self) -> None:
        assert self.read is not None
        self.result, self.read = self.inbox.read(self.read), None

    def feed_read(self) -> None:
        assert self.result is not None
        result, self.result = self.result, None
        self.take(self.session.replay_page(result))

    def step(self) -> None:
        choice = self.rng.random()
        if choice < 0.25:
            self.commit()
        elif choice < 0.55 and self.channel:
            self.deliver()
        elif choice < 0.7 and self.read is not None:
            self.execute_read()
        elif choice < 0.85 and self.result is not None:
            self.feed_read()
        elif choice < 0.9:
            self.toggle_outage()
        elif choice < 0.93:
            self.take(self.session.broadcast(broadcast_note("b")))

    def toggle_outage(self) -> None:
        self.outage = not self.outage
        if not self.outage:  # resubscribed: now read what the outage hid
            self.take(self.session.resync())

    def drain(self) -> None:
        """Make every lost signal detectable (a later signal or a resync), then settle."""
        if not self.outage and self.rng.random() < 0.3:
            self.toggle_outage()
            for _ in range(self.rng.randint(0, 3)):
                self.commit()
        if self.outage:
            self.toggle_outage()
        if self.unrevealed:
            self.commit(may_drop=False)
        for _ in range(10_000):
            if self.channel:
                self.deliver()
            elif self.read is not None:
                self.execute_read()
            elif self.result is not None:
                self.feed_read()
            else:
                return
        raise AssertionError("the session did not settle")


def simulate(seed: int) -> None:
    rng = random.Random(seed)
    world = World(rng, backlog=rng.randint(0, 25))
    for _ in range(rng.randint(0, 3)):  # committed after subscribing, before the head read
        world.commit()
    head = world.inbox.head
    since = rng.choice([None, rng.randint(0, head), rng.randint(0, head + 3)])
    acked = rng.choice([0, rng.randint(0, head)])
    buffer_limit = rng.randint(1, 8)
    session = make(
        since, page_size=rng.randint(1, 6), live_buffer_limit=buffer_limit, expires_at=1e9
    )
    world.connect(session, head, acked, buffer_limit)
    for _ in range(rng.randint(0, 150)):
        world.step()
    world.drain()

    requested = since if since is not None else (acked or head)
    start = min(requested, head)
    sent = frames(world.sent)
    assert sent[0]["type"] == "welcome", seed
    assert (sent[0]["since"], sent[0]["recovered"]) == (start, requested <= head), seed
    assert sent_seqs(world.sent) == list(range(start + 1, world.inbox.head + 1)), seed
    notes = [f for f in sent if f["type"] == "notification"]
    assert all(f["id"] == f"{USER}-{f['seq']}" for f in notes), seed
    assert [f["type"] for f in sent].count("caught_up") == 1, seed
    assert session.state is SessionState.LIVE and session.buffered == 0, seed
    assert session.last_sent == world.inbox.head, seed


@pytest.mark.parametrize("block", range(10))
def test_every_retained_seq_is_sent_once_in_order_whatever_the_interleaving(block: int) -> None:
    for seed in range(block * 60, (block + 1) * 60):
        simulate(seed)
