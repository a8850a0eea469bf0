"""Against a real server whose revocation check refuses users named "revoked-*": the client
stops (4403 with a token, 403 when buying a ticket) and never tries again."""

from collections.abc import Iterator
from typing import Literal

import pytest
from client_server import TidingsServer, token, unique, until
from tidings_client import (
    BackoffPolicy,
    ClientOptions,
    ClientState,
    StopInfo,
    TidingsClient,
    TidingsClientError,
)
from tidings_client.options import StateHandler


@pytest.fixture(scope="module")
def revoking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TidingsServer]:
    running = TidingsServer(tmp_path_factory.mktemp("revoking"), revoked_prefix="revoked-")
    running.start()
    try:
        yield running
    finally:
        running.kill()


def make_client(
    server: TidingsServer,
    user: str,
    errors: list[TidingsClientError],
    *,
    auth: Literal["ticket", "token"] = "ticket",
    on_state_change: StateHandler | None = None,
) -> TidingsClient:
    return TidingsClient(
        server.url,
        get_token=lambda _reason: token(user),
        on_state_change=on_state_change,
        on_error=errors.append,
        options=ClientOptions(auth=auth, backoff=BackoffPolicy(initial_delay=0.01, max_delay=0.02)),
    )


async def test_4403_stops_the_client(revoking_server: TidingsServer) -> None:
    errors: list[TidingsClientError] = []
    states: list[ClientState] = []
    client = make_client(
        revoking_server,
        unique("revoked-"),
        errors,
        auth="token",
        on_state_change=lambda state, _previous: states.append(state),
    )
    client.start()
    assert await client.wait_stopped() == StopInfo("revoked", 4403)
    assert client.stats.attempts == 1
    assert client.stats.connections == 0
    assert states == [ClientState.CONNECTING, ClientState.STOPPED]
    assert any(error.fatal and error.close_code == 4403 for error in errors)


async def test_revoked_at_the_ticket_endpoint_stops_too(revoking_server: TidingsServer) -> None:
    errors: list[TidingsClientError] = []
    client = make_client(revoking_server, unique("revoked-"), errors)
    client.start()
    assert await client.wait_stopped() == StopInfo("revoked", None)
    assert client.stats.attempts == 1
    assert any(e.fatal and e.code == "token_revoked" and e.status == 403 for e in errors)


async def test_other_users_are_served(revoking_server: TidingsServer) -> None:
    errors: list[TidingsClientError] = []
    async with make_client(revoking_server, unique("kept"), errors) as client:
        await until(lambda: client.state is ClientState.LIVE, "live")
