"""Protocol v2 in the Python client: state and counts from the stream, marks, positions, gap
fills over ``GET /stream``; on fakes, and two devices against a real server."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_fakes import FakeSocket, note
from client_harness import Fixture, started
from client_server import TidingsServer, token, unique, until
from tidings_client import (
    ClientOptions,
    ClientState,
    Counts,
    Cursor,
    FileCursorStore,
    ItemState,
    MemoryCursorStore,
    Runtime,
    StateChange,
    TidingsClient,
)
from tidings_client.frames import StateFrame, Welcome, encode_mark, parse_server_frame


def counts(unread: int, unarchived: int | None = None) -> dict[str, int]:
    return {"unread": unread, "unarchived": unread if unarchived is None else unarchived}


def placed(pos: int, seq: int, **extra: Any) -> dict[str, Any]:
    return note(seq, pos=pos, replaces=None, counts=counts(seq), **extra)


def change(
    pos: int,
    op: str,
    *,
    seqs: tuple[int, ...] = (),
    upto: int | None = None,
    unread: int = 0,
    unarchived: int = 0,
) -> dict[str, Any]:
    return {
        "type": "state",
        "pos": pos,
        "op": op,
        "seqs": list(seqs),
        "upto": upto,
        "at": "2024-05-01T12:00:01Z",
        "counts": counts(unread, unarchived),
    }


async def welcome(
    socket: FakeSocket,
    head: int = 0,
    since: int = 0,
    seq_head: int = 0,
    unread: int = 0,
    recovered: bool = True,
) -> None:
    await socket.push(
        {
            "type": "welcome",
            "v": 2,
            "user_id": "alice",
            "head": head,
            "since": since,
            "recovered": recovered,
            "device": "default",
            "seq_head": seq_head,
            "counts": counts(unread),
        }
    )


class Seen:
    def __init__(self) -> None:
        self.changes: list[tuple[int, str]] = []
        self.counts: list[Counts] = []

    def on_change(self, change: StateChange) -> None:
        self.changes.append((change.pos, change.op))


def v2_client(harness: Fixture, seen: Seen, **options: Any) -> TidingsClient:
    found, http = harness
    client = found.client(http, protocol=2, **options)
    client._on_change = seen.on_change  # the harness builds v1 handlers; add v2's
    client._on_counts = seen.counts.append
    return client


def test_v2_frames_parse() -> None:
    welcome = parse_server_frame(
        json.dumps(
            {
                "type": "welcome",
                "v": 2,
                "user_id": "a",
                "head": 3,
                "since": 1,
                "recovered": True,
                "device": "d",
                "seq_head": 2,
                "counts": counts(1),
            }
        )
    )
    assert isinstance(welcome, Welcome) and welcome.counts == Counts(1, 1)
    assert welcome.seq_head == 2
    state = parse_server_frame(json.dumps(change(3, "archive", upto=2, unarchived=1)))
    assert isinstance(state, StateFrame) and state.change.upto == 2
    for broken in (
        {**change(3, "delete")},
        {**change(3, "read"), "seqs": ["1"]},
        {**change(3, "read"), "counts": {"unread": -1, "unarchived": 0}},
        {**placed(2, 1), "counts": None},
        {"type": "welcome", "v": 2, "user_id": "a", "head": 3, "since": 1, "recovered": True},
    ):
        assert parse_server_frame(json.dumps(broken)) is None, broken
    assert json.loads(encode_mark("read", upto=4)) == {"type": "mark", "op": "read", "upto": 4}
    with pytest.raises(ValueError):
        encode_mark("read", seqs=[1], upto=2)


async def test_v2_keeps_state_and_counts_and_acks_positions(harness: Fixture) -> None:
    found, _ = harness
    seen = Seen()
    store = MemoryCursorStore()
    client = v2_client(harness, seen, session_id="me")
    client._stream._store = store
    socket = await started(client, found.server)
    assert "v=2" in socket.url
    await welcome(socket)
    await socket.push(placed(1, 1), placed(2, 2, origin_session="me"))
    await socket.push(change(3, "read", seqs=(1,), unread=1, unarchived=2))
    assert found.received == [1]  # own-origin: applied, not delivered
    assert client.item_state(2) == ItemState()
    assert client.item_state(1) == ItemState(read=True)
    assert client.counts == Counts(1, 2)
    assert seen.changes == [(3, "read")]
    assert socket.frames[-1] == {"type": "ack", "pos": 3}  # max_items=3
    assert store.load() == Cursor("alice", 3, 2)
    await client.stop()


async def test_marks_go_over_the_socket_then_over_rest(harness: Fixture) -> None:
    found, _ = harness
    client = v2_client(harness, Seen())
    socket = await started(client, found.server)
    await welcome(socket, head=2, since=2, seq_head=2, unread=2)
    await client.mark_read([1, 2])
    await client.mark_all_read()
    assert socket.frames == [
        {"type": "mark", "op": "read", "seqs": [1, 2]},
        {"type": "mark", "op": "read", "upto": 2},
    ]
    await socket.server_close(1001)
    await client.archive([1])  # no socket: over REST
    [posted] = [r for r in found.requests if r.url.path.endswith("/notifications/state")]
    assert json.loads(posted.content) == {"op": "archive", "seqs": [1]}
    await client.stop()


async def test_marks_need_protocol_2(harness: Fixture) -> None:
    found, http = harness
    client = found.client(http)
    with pytest.raises(ValueError):
        await client.mark_read([1])


async def test_a_gap_is_filled_from_the_stream_by_position(harness: Fixture) -> None:
    found, _ = harness
    asked: list[tuple[int, int]] = []

    async def stream(since: int, limit: int) -> httpx.Response:
        asked.append((since, limit))
        items = [change(2, "read", seqs=(1,)), {**placed(3, 2)}]
        body = {
            "items": items,
            "head": 2,
            "pos": 4,
            "counts": counts(1),
            "next_since": 3,
            "has_more": False,
            "recovered": True,
        }
        return httpx.Response(200, json=body)

    found.pages = stream
    seen = Seen()
    client = v2_client(harness, seen)
    socket = await started(client, found.server)
    await welcome(socket)
    await socket.push(placed(1, 1), placed(4, 3))
    assert asked == [(1, 2)]
    assert found.requests[-1].url.path == "/base/stream"
    assert found.received == [1, 2, 3]
    assert seen.changes == [(2, "read")]
    await client.stop()


def test_a_file_cursor_keeps_its_protocol(tmp_path: Path) -> None:
    store = FileCursorStore(tmp_path / "cursor.json")
    store.save(Cursor("alice", 7, 2))
    assert store.load() == Cursor("alice", 7, 2)
    store.save(Cursor("alice", 7))
    assert json.loads((tmp_path / "cursor.json").read_text()) == {"user_id": "alice", "seq": 7}


async def test_a_v1_cursor_is_not_taken_for_a_stream_position(harness: Fixture) -> None:
    found, _ = harness
    client = v2_client(harness, Seen())
    client._stream._store = MemoryCursorStore(Cursor("alice", 9))
    socket = await started(client, found.server)
    assert "since=" not in socket.url
    await client.stop()


def device(server: TidingsServer, user: str, name: str, http: httpx.AsyncClient) -> TidingsClient:
    """A v2 client of ``user`` that starts from the stream's start, on ``http``."""
    return TidingsClient(
        server.url,
        get_token=lambda reason: token(user),
        store=MemoryCursorStore(Cursor(user, 0, 2)),
        options=ClientOptions(protocol=2, device=name),
        runtime=Runtime(http=http),
    )


async def test_an_offline_device_resumes_and_shows_the_others_marks(server: TidingsServer) -> None:
    user = unique("ann")
    await server.emit(user, 5)
    calls: list[str] = []

    async def record(request: httpx.Request) -> None:
        calls.append(f"{request.method} {request.url.path}")

    async with (
        httpx.AsyncClient(timeout=10) as phone_http,
        httpx.AsyncClient(timeout=10, event_hooks={"request": [record]}) as laptop_http,
    ):
        await offline_and_back(
            device(server, user, "phone", phone_http),
            device(server, user, "laptop", laptop_http),
            calls,
        )


async def offline_and_back(phone: TidingsClient, laptop: TidingsClient, calls: list[str]) -> None:
    phone.start()
    laptop.start()
    try:
        await until(lambda: len(phone.items()) == 5 and len(laptop.items()) == 5, "five each")
        await laptop.stop()  # offline
        await phone.mark_read([1, 2, 3])
        await phone.archive([4])
        await until(lambda: phone.counts == Counts(2, 4), "the phone's counts")
        assert laptop.counts == Counts(5, 5)

        before = len(calls)
        laptop.start()  # back online: resumes from its position
        await until(lambda: laptop.position == phone.position, "the laptop to catch up")
        assert laptop.items() == phone.items()
        assert laptop.counts == Counts(2, 4)
        assert laptop.state is ClientState.LIVE
        assert calls[before:] == ["POST /ws/ticket"]  # no listing, no stream read over REST
    finally:
        await phone.stop()
        await laptop.stop()
