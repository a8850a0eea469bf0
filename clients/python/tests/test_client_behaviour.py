"""The client's behaviour with a scripted server (FakeServer), fake REST (httpx's
MockTransport) and a manual clock: no network, no real time."""

import asyncio

import httpx
import pytest
from client_fakes import item, note, settle
from client_harness import Fixture, page, started
from tidings_client import (
    BackoffPolicy,
    ClientState,
    Cursor,
    MemoryCursorStore,
    Notification,
    ResyncInfo,
    StopInfo,
    StopReason,
    TidingsClient,
)


async def test_ticket_bought_with_the_token_and_since_from_the_cursor(harness: Fixture) -> None:
    h, http = harness
    store = MemoryCursorStore(Cursor("alice", 4))
    client = h.client(http, store=store, device="phone")
    socket = await started(client, h.server)
    assert socket.base == "ws://tidings.test/base/ws"
    assert socket.query == {"ticket": "ticket-1", "since": "4", "device": "phone"}
    assert "Authorization" not in socket.headers
    assert h.requests[0].method == "POST"
    assert h.requests[0].headers["authorization"].startswith("Bearer ey")
    await socket.welcome(head=6, since=4)
    await socket.push(note(5), note(6), {"type": "caught_up", "seq": 6})
    assert h.received == [5, 6]
    assert client.state is ClientState.LIVE
    await client.stop()


async def test_token_auth_sends_a_bearer_header_and_buys_no_ticket(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http, auth="token")
    socket = await started(client, h.server)
    assert socket.headers["Authorization"].startswith("Bearer ey")
    assert socket.query == {}
    assert h.requests == []
    await client.stop()


async def test_dedup_delivers_each_seq_once(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1), note(2), note(2), note(1), note(3))
    assert h.received == [1, 2, 3]
    assert client.stats.duplicates == 2
    await client.stop()


async def test_acks_batched_by_count_and_by_delay(harness: Fixture) -> None:
    h, http = harness
    store = MemoryCursorStore()
    client = h.client(http, store=store)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1), note(2))
    assert socket.frames == []
    await h.clock.advance(0.099)
    assert socket.frames == []
    await h.clock.advance(0.001)
    assert socket.frames == [{"type": "ack", "seq": 2}]
    assert store.load() == Cursor("alice", 2)
    await socket.push(note(3), note(4), note(5))
    assert socket.frames[-1] == {"type": "ack", "seq": 5}
    assert client.stats.acks_sent == 2
    await client.stop()


async def test_live_gap_filled_over_rest_before_later_frames(harness: Fixture) -> None:
    h, http = harness
    gate = asyncio.Event()
    asked: list[tuple[int, int]] = []

    async def pages(since: int, limit: int) -> httpx.Response:
        asked.append((since, limit))
        await gate.wait()
        return page([item(2), item(3)], head=5)

    h.pages = pages
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1), note(4))
    await socket.push(note(5))
    assert h.received == [1]
    gate.set()
    await settle()
    assert h.received == [1, 2, 3, 4, 5]
    assert asked == [(1, 2)]
    assert client.stats.gap_fills == 1
    assert len(h.server.sockets) == 1
    await client.stop()


async def test_unfillable_gap_is_replayed_by_reconnecting(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1), note(3), note(4))
    assert h.received == [1]
    assert socket.closed_with == (1000, "client reconnecting")
    assert any(error.code == "gap_fill_failed" for error in h.errors)
    second = h.server.last
    assert second is not socket
    assert second.query["since"] == "1"
    await second.welcome(head=4, since=1)
    await second.push(note(2), note(3), note(4))
    assert h.received == [1, 2, 3, 4]
    await client.stop()


async def test_trimmed_history_resyncs_from_the_head(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http, store=MemoryCursorStore(Cursor("alice", 3)))
    socket = await started(client, h.server)
    await socket.welcome(head=10, since=3, recovered=False)
    assert h.resyncs == [ResyncInfo("alice", 3, 10, "welcome")]
    assert socket.frames == [{"type": "ack", "seq": 10}]
    await socket.push(note(8), note(9), note(10), {"type": "caught_up", "seq": 10}, note(11))
    assert h.received == [11]
    assert client.position == 11
    await client.stop()


async def test_rest_fill_finding_history_trimmed_resyncs(harness: Fixture) -> None:
    h, http = harness

    async def trimmed(_since: int, _limit: int) -> httpx.Response:
        return page([], head=7, recovered=False)

    h.pages = trimmed
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome(head=1, since=1)
    await socket.push(note(5), note(7), note(8))
    assert [(r.source, r.head) for r in h.resyncs] == [("fill", 7)]
    assert h.received == [8]
    await client.stop()


async def test_own_origin_suppressed_but_acknowledged(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http, session_id="tab-1")
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1, origin_session="tab-1"), note(2, origin_session="tab-2"))
    await h.clock.advance(0.1)
    assert h.received == [2]
    assert client.stats.suppressed == 1
    assert socket.frames == [{"type": "ack", "seq": 2}]
    await client.stop()


async def test_deliver_own_delivers_own_origin(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http, session_id="tab-1", deliver_own=True)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1, origin_session="tab-1"))
    assert h.received == [1]
    await client.stop()


@pytest.mark.parametrize(
    ("code", "reason"),
    [(4400, "bad_query"), (4403, "revoked"), (1009, "frame_too_big"), (1003, "unsupported_data")],
)
async def test_fatal_close_codes_stop_for_good(
    harness: Fixture, code: int, reason: StopReason
) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.server_close(code)
    assert await client.wait_stopped() == StopInfo(reason, code)
    await h.clock.advance(120)
    assert len(h.server.sockets) == 1
    assert client.state is ClientState.STOPPED
    assert h.errors[-1].fatal


async def test_4401_fresh_credentials_then_immediate_reconnect(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1))
    await socket.server_close(4401)
    second = h.server.last
    assert second is not socket
    assert second.query["since"] == "1"
    assert h.reasons == ["connect", "unauthorized"]
    await client.stop()


async def test_repeated_4401_without_welcome_backs_off(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.server_close(4401)
    assert len(h.server.sockets) == 2
    await h.server.last.server_close(4401)
    assert len(h.server.sockets) == 2
    await h.clock.advance(0.499)
    assert len(h.server.sockets) == 2
    await h.clock.advance(0.001)
    assert len(h.server.sockets) == 3
    await client.stop()


async def test_4408_reconnects_with_since_at_once(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome(head=2, since=2)
    await socket.server_close(4408)
    assert len(h.server.sockets) == 2
    assert h.server.last.query["since"] == "2"
    await client.stop()


async def test_1001_reconnects_after_a_jittered_delay(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.server_close(1001)
    assert client.state is ClientState.BACKOFF
    await h.clock.advance(0.249)
    assert len(h.server.sockets) == 1
    await h.clock.advance(0.001)
    assert len(h.server.sockets) == 2
    await client.stop()


async def test_4429_backs_off_longer(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http, backoff=BackoffPolicy(throttled_min_delay=5.0))
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.server_close(4429)
    await h.clock.advance(5.249)
    assert len(h.server.sockets) == 1
    await h.clock.advance(0.001)
    assert len(h.server.sockets) == 2
    await client.stop()


async def test_delay_doubles_while_down_and_resets_after_health(harness: Fixture) -> None:
    h, http = harness
    policy = BackoffPolicy(initial_delay=0.1, max_delay=1.0, reset_after=5.0)
    client = h.client(http, backoff=policy)
    await started(client, h.server)
    delays: list[float] = []
    for _ in range(6):
        await h.server.last.server_close(1006)
        delays.extend(h.clock.pending())
        await h.clock.advance(h.clock.pending()[0])
    assert delays == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.5, 0.5])
    await h.server.last.welcome()
    await h.clock.advance(5.0)
    await h.server.last.server_close(1006)
    assert h.clock.pending() == pytest.approx([0.05])
    await client.stop()


async def test_refresh_before_exp_on_the_same_connection(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http, refresh_lead=60.0)
    socket = await started(client, h.server)
    await socket.welcome()
    # The token's exp is whole seconds: the refresh is due 59-60 s before the hour is up.
    await h.clock.advance(3539 - 0.001)
    assert socket.frames == []
    await h.clock.advance(1.001)
    refresh = next(frame for frame in socket.frames if frame["type"] == "refresh")
    assert refresh["token"].startswith("ey")
    assert client.stats.refreshes == 1
    assert h.reasons == ["connect", "refresh"]
    await h.clock.advance(3600)
    assert client.stats.refreshes == 2
    assert len(h.server.sockets) == 1
    await client.stop()


async def test_cursor_of_another_user_is_dropped(harness: Fixture) -> None:
    h, http = harness
    store = MemoryCursorStore(Cursor("mallory", 40))
    client = h.client(http, store=store)
    socket = await started(client, h.server)
    assert socket.query["since"] == "40"
    await socket.welcome(user="alice", head=3, since=3)
    second = h.server.last
    assert second is not socket
    assert "since" not in second.query
    assert store.load() is None
    await second.welcome(user="alice", head=3, since=3)
    assert client.position == 3
    await client.stop()


async def test_stop_acks_saves_and_closes_normally(harness: Fixture) -> None:
    h, http = harness
    store = MemoryCursorStore()
    client = h.client(http, store=store)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1))
    await client.stop()
    assert socket.frames == [{"type": "ack", "seq": 1}]
    assert socket.closed_with == (1000, "client stopped")
    assert store.load() == Cursor("alice", 1)
    assert await client.wait_stopped() == StopInfo("stopped", None)


async def test_handler_errors_are_reported_and_the_stream_moves_on(harness: Fixture) -> None:
    h, http = harness

    def on_notification(notification: Notification) -> None:
        if notification.seq == 1:
            raise RuntimeError("app bug")
        h.received.append(notification.seq)

    client = h.client(http, on_notification=on_notification)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1), note(2))
    assert h.received == [2]
    assert h.errors[0].code == "handler_failed"
    await client.stop()


async def test_broadcasts_and_error_frames_reach_their_handlers(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http)
    socket = await started(client, h.server)
    await socket.welcome()
    broadcast = {
        "type": "broadcast",
        "id": "b1",
        "event": "maintenance",
        "data": {},
        "created_at": "2024-05-01T12:00:00Z",
    }
    error = {"type": "error", "code": "ack_stale", "message": "ack 1 is below the stored ack"}
    await socket.push(broadcast, error)
    assert h.broadcasts == ["maintenance"]
    assert (h.errors[0].code, h.errors[0].fatal) == ("ack_stale", False)
    await client.stop()


async def test_no_welcome_in_time_gives_up_on_the_socket(harness: Fixture) -> None:
    h, http = harness
    client = h.client(http, open_timeout=1.0)
    socket = await started(client, h.server)
    await h.clock.advance(1.0)
    assert socket.closed_with is not None
    await h.clock.advance(0.25)
    assert len(h.server.sockets) == 2
    await client.stop()


async def test_a_handler_may_call_stop(harness: Fixture) -> None:
    h, http = harness
    holder: list[TidingsClient] = []

    async def on_notification(_notification: Notification) -> None:
        await holder[0].stop()

    store = MemoryCursorStore()
    client = h.client(http, on_notification=on_notification, store=store)
    holder.append(client)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1))
    assert await asyncio.wait_for(client.wait_stopped(), 5) == StopInfo("stopped", None)
    assert socket.closed_with == (1000, "client stopped")
    assert store.load() == Cursor("alice", 1)
