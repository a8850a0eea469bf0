"""Against a real server: SIGKILL it mid-stream, restart it on the same port and store, and
the application still sees one contiguous stream with no duplicate."""

import asyncio
from collections.abc import Iterator

import pytest
from client_server import TidingsServer, token, unique, until
from tidings_client import (
    AckPolicy,
    BackoffPolicy,
    ClientOptions,
    ClientState,
    Notification,
    TidingsClient,
)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TidingsServer]:
    """A server of this test's own: it gets killed."""
    running = TidingsServer(tmp_path_factory.mktemp("killed"))
    running.start()
    try:
        yield running
    finally:
        running.kill()


async def test_server_killed_mid_stream_and_restarted(server: TidingsServer) -> None:
    user = unique("kill")
    received: list[Notification] = []
    killed = asyncio.Event()

    async def on_notification(notification: Notification) -> None:
        received.append(notification)
        if len(received) == 5 and not killed.is_set():
            await asyncio.to_thread(server.kill)  # while the rest of the batch is in flight
            killed.set()

    client = TidingsClient(
        server.url,
        get_token=lambda _reason: token(user),
        on_notification=on_notification,
        options=ClientOptions(
            backoff=BackoffPolicy(initial_delay=0.05, max_delay=0.4, reset_after=1.0),
            acks=AckPolicy(max_delay=0.02, max_items=10),
        ),
    )
    async with client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        await server.emit(user, 200)
        await asyncio.wait_for(killed.wait(), 10)
        await server.emit(user, 50, start=200)  # committed while the server is down
        await asyncio.to_thread(server.start)
        await server.emit(user, 50, start=250)
        await until(lambda: len(received) >= 300, "all 300 notifications", timeout=30)

        async def final_ack() -> bool:
            return (await server.cursor(user))["acked"] == 300

        await until(final_ack, "the final ack")
    assert [n.seq for n in received] == list(range(1, 301))
    assert [n.data["i"] for n in received] == list(range(300))
    assert len({n.id for n in received}) == 300
    assert client.stats.connections >= 2
