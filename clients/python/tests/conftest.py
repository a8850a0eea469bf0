"""Fixtures of the client's tests: a real tidings server in a subprocess."""

from collections.abc import Iterator

import pytest
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
