"""Against a real server: a live seq jump (a frame lost between server and client) is filled
over REST before later notifications are delivered."""

import httpx
from client_server import DroppingRelay, TidingsServer, token, unique, until
from tidings_client import ClientOptions, ClientState, Notification, Runtime, TidingsClient


async def test_live_gap_is_filled_over_rest_in_order(server: TidingsServer) -> None:
    user = unique("gap")
    relay = DroppingRelay(server.port, lambda f: f["type"] == "notification" and f["seq"] == 2)
    received: list[Notification] = []
    requests: list[str] = []

    async def record(request: httpx.Request) -> None:
        requests.append(f"{request.url.path}?{request.url.query.decode()}")

    async with (
        relay.running(),
        httpx.AsyncClient(event_hooks={"request": [record]}, timeout=5) as http,
    ):
        client = TidingsClient(
            server.url,
            get_token=lambda _reason: token(user),
            on_notification=received.append,
            options=ClientOptions(ws_url=relay.ws_url),
            runtime=Runtime(http=http),
        )
        async with client:
            await until(lambda: client.state is ClientState.LIVE, "live")
            await server.emit(user, 1)
            await until(lambda: len(received) == 1, "seq 1")
            await server.emit(user, 2, start=1)
            await until(lambda: len(received) == 3, "seqs 2 and 3")
    assert [(n.seq, n.data["i"]) for n in received] == [(1, 0), (2, 1), (3, 2)]
    assert len(relay.dropped) == 1
    assert client.stats.gap_fills == 1
    assert client.stats.connections == 1, "filled without reconnecting"
    assert "/notifications?since=1&limit=1" in requests
