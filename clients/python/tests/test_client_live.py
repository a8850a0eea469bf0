"""Against a real server: connect (ticket by default), receive, acknowledge, resume."""

from pathlib import Path
from typing import Any

from client_server import TidingsServer, token, unique, until
from tidings_client import (
    AckPolicy,
    ClientOptions,
    ClientState,
    Cursor,
    CursorStore,
    FileCursorStore,
    MemoryCursorStore,
    Notification,
    ResyncInfo,
    StopInfo,
    TidingsClient,
    TidingsClientError,
)
from tidings_client.options import Handler


class Recorder:
    """Handlers that keep what they see."""

    def __init__(self) -> None:
        self.received: list[Notification] = []
        self.errors: list[TidingsClientError] = []
        self.states: list[ClientState] = []

    def on_state_change(self, state: ClientState, _previous: ClientState) -> None:
        self.states.append(state)


def make_client(
    server: TidingsServer,
    user: str,
    seen: Recorder,
    *,
    store: CursorStore | None = None,
    on_resync: Handler[ResyncInfo] | None = None,
    **options: Any,
) -> TidingsClient:
    """A client of ``user`` recording into ``seen``; ``options`` are ClientOptions fields."""
    return TidingsClient(
        server.url,
        get_token=lambda _reason: token(user),
        store=store,
        on_notification=seen.received.append,
        on_resync=on_resync,
        on_state_change=seen.on_state_change,
        on_error=seen.errors.append,
        options=ClientOptions(acks=AckPolicy(max_delay=0.05), **options),
    )


async def acked(server: TidingsServer, user: str, seq: int, device: str = "default") -> None:
    async def reached() -> bool:
        return (await server.cursor(user, device))["acked"] == seq

    await until(reached, f"the server to store ack {seq}")


async def test_receives_live_notifications_and_acknowledges_them(server: TidingsServer) -> None:
    user, seen = unique("alice"), Recorder()
    await server.emit(user, 3)

    async def routed() -> bool:
        return (await server.cursor(user))["head"] == 3

    await until(routed, "three routed")
    async with make_client(server, user, seen) as client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        assert client.position == 3  # a new device starts at the head
        assert client.user_id == user
        await server.emit(user, 2, start=3)
        await until(lambda: len(seen.received) == 2, "two live notifications")
        assert [(n.seq, n.data["i"]) for n in seen.received] == [(4, 3), (5, 4)]
        assert seen.received[0].event == "test.note"
        assert seen.received[0].created_at.tzinfo is not None
        await acked(server, user, 5)
    assert seen.states[:3] == [ClientState.CONNECTING, ClientState.SYNCING, ClientState.LIVE]
    assert client.state is ClientState.STOPPED


async def test_resumes_from_a_cursor_file_with_since(server: TidingsServer, tmp_path: Path) -> None:
    user, seen = unique("bob"), Recorder()
    await server.emit(user, 5)

    async def routed() -> bool:
        return (await server.cursor(user))["head"] == 5

    await until(routed, "five routed")
    store = FileCursorStore(tmp_path / "cursor.json")
    store.save(Cursor(user, 2))
    async with make_client(server, user, seen, store=store, device="laptop"):
        await until(lambda: len(seen.received) == 3, "the replay after seq 2")
        assert [n.seq for n in seen.received] == [3, 4, 5]
        await until(lambda: store.load() == Cursor(user, 5), "the cursor file")
        await acked(server, user, 5, "laptop")


async def test_own_origin_is_acknowledged_not_delivered(server: TidingsServer) -> None:
    user, seen = unique("carol"), Recorder()
    async with make_client(server, user, seen, session_id="tab-1") as client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        await server.emit(user, 2, origin="tab-1")
        await server.emit(user, 1, start=2, origin="tab-2")
        await until(lambda: len(seen.received) == 1, "the other tab's notification")
        assert (seen.received[0].seq, seen.received[0].origin_session) == (3, "tab-2")
        assert client.stats.suppressed == 2
        await acked(server, user, 3)


async def test_token_auth_uses_a_bearer_header(server: TidingsServer) -> None:
    user, seen = unique("dave"), Recorder()
    async with make_client(server, user, seen, auth="token") as client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        await server.emit(user, 1)
        await until(lambda: len(seen.received) == 1, "one notification")


async def test_bad_query_4400_stops_instead_of_retrying(server: TidingsServer) -> None:
    seen = Recorder()
    client = make_client(server, unique("erin"), seen, device="not a device!")
    client.start()
    assert await client.wait_stopped() == StopInfo("bad_query", 4400)
    assert client.stats.attempts == 1
    assert any(error.fatal and error.close_code == 4400 for error in seen.errors)


async def test_unknown_position_resyncs_then_goes_live_from_the_head(
    server: TidingsServer,
) -> None:
    user, seen = unique("resync"), Recorder()
    await server.emit(user, 3)

    async def routed() -> bool:
        return (await server.cursor(user))["head"] == 3

    await until(routed, "three routed")
    store = MemoryCursorStore(Cursor(user, 50))  # from a history this server does not have
    resyncs: list[ResyncInfo] = []
    async with make_client(server, user, seen, store=store, on_resync=resyncs.append) as client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        assert resyncs == [ResyncInfo(user, 50, 3, "welcome")]
        assert client.position == 3
        await server.emit(user, 1, start=3)
        await until(lambda: len(seen.received) == 1, "the next live notification")
        assert seen.received[0].seq == 4
        await acked(server, user, 4)
