"""Fixtures of the client's tests: a real tidings server in a subprocess, and a client on
fakes."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from client_harness import Harness
from client_server import TidingsServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TidingsServer]:
    """``tidings run`` on a free loopback port, shared by the tests that never stop it.

    Tests keep apart by user id (:func:`client_server.unique`).
    """
    running = TidingsServer(tmp_path_factory.mktemp("tidings"))
    running.start()
    try:
        yield running
    finally:
        running.kill()


@pytest.fixture
async def harness() -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    found = Harness()
    async with httpx.AsyncClient(transport=httpx.MockTransport(found.handle)) as http:
        yield found, http
