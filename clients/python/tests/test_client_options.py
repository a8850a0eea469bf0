"""How a client is configured: the credentials it cannot do without, the option groups, and
options that reach the wire only through the client (no network, no real time)."""

import dataclasses

import httpx
import pytest
from client_fakes import item, note
from client_harness import Fixture, page, started
from tidings_client import ClientOptions, Runtime, TidingsClient

URL = "http://tidings.test"


def test_a_credentials_callback_is_required() -> None:
    with pytest.raises(ValueError, match="get_token or get_ticket"):
        TidingsClient(URL)


def test_token_auth_requires_get_token() -> None:
    with pytest.raises(ValueError, match="needs get_token"):
        TidingsClient(URL, get_ticket=lambda _reason: "t", options=ClientOptions(auth="token"))
    TidingsClient(URL, get_ticket=lambda _reason: "t")  # tickets need no token


def test_session_id_is_random_unless_given() -> None:
    first = TidingsClient(URL, get_ticket=lambda _reason: "t")
    second = TidingsClient(URL, get_ticket=lambda _reason: "t")
    assert first.session_id != second.session_id
    chosen = TidingsClient(
        URL, get_ticket=lambda _reason: "t", options=ClientOptions(session_id="tab-1")
    )
    assert chosen.session_id == "tab-1"


def test_option_groups_are_frozen() -> None:
    options = ClientOptions(device="phone")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.device = "laptop"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Runtime().random = lambda: 0.0  # type: ignore[misc]
    assert dataclasses.replace(options, device="laptop").device == "laptop"
    assert options.device == "phone"


async def test_fill_page_size_bounds_each_rest_page(harness: Fixture) -> None:
    h, http = harness
    asked: list[tuple[int, int]] = []

    async def pages(since: int, limit: int) -> httpx.Response:
        asked.append((since, limit))
        return page([item(since + 1)], head=4)

    h.pages = pages
    client = h.client(http, fill_page_size=1)
    socket = await started(client, h.server)
    await socket.welcome()
    await socket.push(note(1), note(4))
    assert h.received == [1, 2, 3, 4]
    assert asked == [(1, 1), (2, 1)]
    await client.stop()
