"""Against a real server with short-lived tokens and no leeway: the client refreshes before
exp on the same connection; without a token to refresh with, 4401 at exp gets fresh
credentials and a reconnect with since, once per expiry (no loop)."""

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from client_server import TidingsServer, token, unique, until
from tidings_client import (
    AuthReason,
    ClientState,
    Notification,
    Runtime,
    TidingsClient,
    TidingsClientError,
    Transport,
    token_expiry,
    websockets_connector,
)

TTL = 3.0


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TidingsServer]:
    running = TidingsServer(tmp_path_factory.mktemp("strict"), jwt_leeway_seconds="0")
    running.start()
    try:
        yield running
    finally:
        running.kill()


async def test_short_lived_token_is_refreshed_not_reconnected(strict_server: TidingsServer) -> None:
    user = unique("fresh")
    reasons: list[AuthReason] = []
    errors: list[TidingsClientError] = []
    received: list[Notification] = []
    issued: list[str] = []

    def get_token(reason: AuthReason) -> str:
        reasons.append(reason)
        issued.append(token(user, ttl=TTL))
        return issued[-1]

    client = TidingsClient(
        strict_server.url,
        get_token=get_token,
        on_notification=received.append,
        on_error=errors.append,
    )
    async with client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        first_exp = token_expiry(issued[0])
        assert first_exp is not None
        # The server checks expiry every second: wait past the first exp plus two checks.
        await until(
            lambda: time.time() > first_exp + 2 and client.stats.refreshes >= 2,
            "two refreshes and the first token's expiry",
        )
        await strict_server.emit(user, 1)
        await until(lambda: len(received) == 1, "a notification after the first exp")
        assert client.stats.attempts == 1
        assert client.stats.connections == 1
        assert client.state is ClientState.LIVE
    assert errors == []
    assert reasons[0] == "connect"
    assert set(reasons[1:]) == {"refresh"}


async def test_without_get_token_4401_renews_the_ticket_and_resumes(
    strict_server: TidingsServer, tmp_path: Path
) -> None:
    user = unique("ticket")
    reasons: list[AuthReason] = []
    received: list[Notification] = []
    urls: list[str] = []

    async def get_ticket(reason: AuthReason) -> str:
        # The application buys tickets with its own short-lived token.
        reasons.append(reason)
        async with httpx.AsyncClient(base_url=strict_server.url, timeout=5) as http:
            response = await http.post(
                "/ws/ticket", headers={"Authorization": f"Bearer {token(user, ttl=TTL)}"}
            )
        ticket: str = response.json()["ticket"]
        return ticket

    connect = websockets_connector()

    async def recording_connect(url: str, headers: Mapping[str, str]) -> Transport:
        urls.append(url)
        return await connect(url, headers)

    client = TidingsClient(
        strict_server.url,
        get_ticket=get_ticket,
        on_notification=received.append,
        runtime=Runtime(connect=recording_connect),
    )
    async with client:
        await until(lambda: client.state is ClientState.LIVE, "live")
        await strict_server.emit(user, 1)
        await until(lambda: len(received) == 1, "seq 1")
        await until(
            lambda: client.stats.connections == 2 and client.state is ClientState.LIVE,
            "the reconnect after 4401",
            timeout=15,
        )
        assert reasons == ["connect", "unauthorized"]
        assert "since=1" in urls[1]
        await strict_server.emit(user, 1, start=1)
        await until(lambda: len(received) == 2, "seq 2")
    assert [n.seq for n in received] == [1, 2]
