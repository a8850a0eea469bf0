"""Pure pieces: backoff, ack batching, dedup and gap logic, JWT expiry, close codes, cursor
stores and frame parsing."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from client_fakes import ManualClock, settle
from tidings_client import (
    AckBatcher,
    AckPolicy,
    Backoff,
    BackoffPolicy,
    Cursor,
    FileCursorStore,
    FillOutcome,
    MemoryCursorStore,
    Notification,
    Page,
    Reconnect,
    Sequencer,
    Stop,
    decide_close,
    fill_gap,
    parse_server_frame,
    refresh_time,
    token_expiry,
)
from tidings_client.frames import CaughtUp, NotificationFrame
from tidings_client.refresh import Refresher

POLICY = BackoffPolicy(initial_delay=0.1, max_delay=1.0, reset_after=5.0, throttled_min_delay=3.0)


# Backoff.


def test_full_jitter_ceiling_doubles_up_to_the_max() -> None:
    top = Backoff(POLICY, lambda: 1.0)
    assert [round(top.next("backoff"), 6) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    bottom = Backoff(POLICY, lambda: 0.0)
    assert [bottom.next("backoff") for _ in range(3)] == [0.0, 0.0, 0.0]


def test_immediate_is_free_only_after_a_healthy_connection() -> None:
    backoff = Backoff(POLICY, lambda: 0.5)
    assert backoff.next("immediate") == 0
    assert backoff.next("immediate") == pytest.approx(0.1)
    assert backoff.next("none") == 0
    assert backoff.attempts == 2


def test_throttled_adds_a_floor() -> None:
    backoff = Backoff(POLICY, lambda: 0.5)
    assert backoff.next("throttled") == pytest.approx(3.05)
    assert backoff.next("throttled") == pytest.approx(3.1)


def test_reset_after_a_connection_stayed_up_long_enough() -> None:
    backoff = Backoff(POLICY, lambda: 0.5)
    backoff.next("backoff")
    backoff.next("backoff")
    backoff.connected(1.0)
    backoff.disconnected(5.999)
    assert backoff.attempts == 2
    backoff.connected(10.0)
    backoff.disconnected(15.0)
    assert backoff.attempts == 0
    assert backoff.next("backoff") == pytest.approx(0.05)


def test_backoff_policy_is_checked() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(initial_delay=2, max_delay=1)


# Acks.


def test_acks_due_after_max_items_or_max_delay() -> None:
    acks = AckBatcher(AckPolicy(max_delay=0.1, max_items=3))
    assert acks.due_at() is None
    assert acks.processed(1, 10.0) is False
    assert acks.processed(2, 10.05) is False
    assert acks.due_at() == pytest.approx(10.1)
    assert acks.processed(3, 10.06) is True
    assert acks.take() == 3
    assert acks.take() is None
    assert acks.due_at() is None


def test_acks_are_cumulative() -> None:
    acks = AckBatcher(AckPolicy(max_delay=0.1, max_items=10))
    acks.processed(5, 0)
    assert acks.processed(4, 1) is False
    assert acks.processed(5, 2) is False
    assert acks.take() == 5
    assert acks.processed(5, 3) is False
    assert not acks.has_pending


def test_rearm_acknowledges_the_position_again() -> None:
    acks = AckBatcher(AckPolicy(max_delay=0.1, max_items=10))
    acks.processed(7, 0)
    acks.take()
    acks.rearm(7, 5.0)
    assert acks.due_at() == pytest.approx(5.1)
    assert acks.take() == 7
    acks.rearm(0, 6.0)
    assert not acks.has_pending


# Dedup and gaps.


def test_sequencer_verdicts() -> None:
    sequencer = Sequencer(3)
    assert sequencer.verdict(2) == "duplicate"
    assert sequencer.verdict(3) == "duplicate"
    assert sequencer.verdict(4) == "next"
    assert sequencer.verdict(6) == "gap"
    sequencer.advance(6)
    sequencer.advance(5)
    assert sequencer.position == 6
    sequencer.reset(2)
    assert sequencer.verdict(3) == "next"
    with pytest.raises(RuntimeError):
        Sequencer().verdict(1)


def notification(seq: int) -> Notification:
    return Notification(seq, f"n{seq}", "e", {}, datetime.now(UTC), None)


def page(seqs: Sequence[int], *, head: int = 100, recovered: bool = True) -> Page:
    return Page([notification(seq) for seq in seqs], head, False, recovered)


async def fill(
    position: int, target: int, pages: list[Page], limit: int = 100
) -> tuple[FillOutcome, list[int], list[tuple[int, int]], int | None]:
    sequencer = Sequencer(position)
    delivered: list[int] = []
    reads: list[tuple[int, int]] = []

    async def read(since: int, size: int) -> Page:
        reads.append((since, size))
        return pages.pop(0)

    async def deliver(item: Notification) -> None:
        delivered.append(item.seq)
        sequencer.advance(item.seq)

    outcome = await fill_gap(sequencer, target, read, deliver, limit)
    return outcome, delivered, reads, sequencer.position


async def test_fill_gap_fetches_exactly_the_missing_seqs() -> None:
    outcome, delivered, reads, _ = await fill(2, 7, [page([3, 4]), page([5, 6, 7])], limit=2)
    assert outcome == FillOutcome("filled")
    assert delivered == [3, 4, 5, 6, 7]
    assert reads == [(2, 2), (4, 2)]


async def test_fill_gap_skips_overlap() -> None:
    _, delivered, _, _ = await fill(4, 6, [page([3, 4, 5, 6])])
    assert delivered == [5, 6]


async def test_fill_gap_gone_and_trimmed() -> None:
    outcome, _, _, position = await fill(2, 9, [page([3]), page([])])
    assert (outcome, position) == (FillOutcome("gone"), 3)
    outcome, delivered, _, _ = await fill(2, 9, [page([8, 9], head=12, recovered=False)])
    assert (outcome, delivered) == (FillOutcome("trimmed", 12), [])


async def test_fill_gap_failure_keeps_what_was_delivered() -> None:
    sequencer = Sequencer(1)
    calls = 0

    async def read(_since: int, _size: int) -> Page:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError("network")
        return page([2, 3])

    async def deliver(item: Notification) -> None:
        sequencer.advance(item.seq)

    with pytest.raises(OSError):
        await fill_gap(sequencer, 5, read, deliver, 2)
    assert sequencer.position == 3


# Tokens and close codes.


def test_token_expiry_without_verifying() -> None:
    token = jwt.encode({"sub": "alice", "exp": 1100, "name": "Zoë ✓"}, "k" * 32, "HS256")
    assert token_expiry(token) == 1100.0
    assert token_expiry("not-a-token") is None
    assert token_expiry("a.b.c") is None
    assert token_expiry(jwt.encode({"sub": "x"}, "k" * 32, "HS256")) is None


def test_refresh_time_lead_or_halfway() -> None:
    assert refresh_time(1000.0, 0.0, 60.0) == 940.0
    assert refresh_time(10.0, 6.0, 60.0) == 8.0
    assert refresh_time(10.0, 20.0, 60.0) == 20.0


@pytest.mark.parametrize(
    ("code", "decision"),
    [
        (4400, Stop("bad_query")),
        (4403, Stop("revoked")),
        (1009, Stop("frame_too_big")),
        (1003, Stop("unsupported_data")),
        (4401, Reconnect("immediate", renew_auth=True)),
        (4408, Reconnect("immediate")),
        (4429, Reconnect("throttled")),
        (1001, Reconnect("backoff")),
        (1006, Reconnect("backoff")),
        (1011, Reconnect("backoff")),
        (1012, Reconnect("backoff")),
    ],
)
def test_close_code_table(code: int, decision: Stop | Reconnect) -> None:
    assert decide_close(code) == decision


# Cursor stores and frames.


def test_file_cursor_store_round_trips_and_ignores_junk(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "cursor.json"
    store = FileCursorStore(path)
    assert store.load() is None
    store.save(Cursor("alice", 9))
    assert FileCursorStore(path).load() == Cursor("alice", 9)
    assert [p.name for p in path.parent.iterdir()] == ["cursor.json"]
    path.write_text("{not json")
    assert store.load() is None
    path.write_text('{"user_id": "alice", "seq": -1}')
    assert store.load() is None
    store.clear()
    assert not path.exists()
    store.clear()


def test_memory_cursor_store() -> None:
    store = MemoryCursorStore(Cursor("a", 1))
    assert store.load() == Cursor("a", 1)
    store.clear()
    assert store.load() is None


def test_server_frames_are_parsed_strictly() -> None:
    frame = parse_server_frame(
        '{"type":"notification","seq":3,"id":"x","event":"e","data":{"a":1},'
        '"created_at":"2024-05-01T12:00:00.250000Z","origin_session":null}'
    )
    assert isinstance(frame, NotificationFrame)
    assert frame.notification.seq == 3
    assert frame.notification.created_at == datetime(2024, 5, 1, 12, 0, 0, 250000, UTC)
    assert parse_server_frame('{"type":"notification","seq":"3"}') is None
    assert parse_server_frame('{"type":"notification","seq":true}') is None
    assert parse_server_frame('{"type":"something_new"}') is None
    assert parse_server_frame("not json") is None
    assert parse_server_frame('{"type":"caught_up","seq":4}') == CaughtUp(4)


# Refresher.


async def start_refresher(
    tokens: list[str], clock: ManualClock
) -> tuple[Refresher, list[tuple[float, dict[str, Any]]], list[float]]:
    sent: list[tuple[float, dict[str, Any]]] = []
    asked: list[float] = []

    async def get_token() -> str:
        asked.append(clock.now)
        return tokens.pop(0) if len(tokens) > 1 else tokens[0]

    async def send(text: str) -> None:
        sent.append((clock.now, json.loads(text)))

    refresher = Refresher(
        get_token=get_token,
        send=send,
        token_exp=100.0,
        lead=60.0,
        clock=clock,
        sleep=clock.sleep,
        report=lambda _error: None,
        on_sent=lambda: None,
    )
    refresher.start()
    await settle()
    return refresher, sent, asked


def jwt_expiring_at(exp: int) -> str:
    return jwt.encode({"sub": "alice", "exp": exp}, "k" * 32, "HS256")


async def test_refresher_asks_again_for_a_fresher_token_halfway_to_exp() -> None:
    clock = ManualClock(0.0)
    fresher = jwt_expiring_at(300)
    refresher, sent, asked = await start_refresher([jwt_expiring_at(100), fresher], clock)
    await clock.advance(80)
    assert asked == [50.0, 75.0]
    assert sent == [(75.0, {"type": "refresh", "token": fresher})]
    assert refresher.token_exp == 300
    refresher.cancel()
    await clock.advance(1000)
    assert len(asked) == 2


async def test_refresher_stops_asking_once_the_old_token_expired() -> None:
    clock = ManualClock(0.0)
    _, sent, asked = await start_refresher([jwt_expiring_at(100)], clock)
    await clock.advance(200)
    assert sent == []
    assert all(at < 100 for at in asked)
    assert clock.pending() == []
