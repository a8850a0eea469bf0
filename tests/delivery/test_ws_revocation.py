"""Revocation that reaches open sockets: pushed through Redis to every node, and swept.

The host's check says which tokens are revoked (here: a ``token_version`` below the user's
current one, the seed application's scheme). :func:`delivery.revocation.revoke` closes the
user's open connections on every node with 4403; the periodic sweep closes them even when
nobody announced the revocation.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker import Broker, RedisBroker
from delivery.auth import Principal
from delivery.revocation import revoke
from foundation.errors import SignalUnavailable
from foundation.settings import load_settings
from tests.delivery.helpers import close_code, connect, recv, start_stream, unique
from tests.delivery.node import Node, make_settings, process_broker, running_node, token
from tests.services import free_port


class TokenVersions:
    """The host's record of each user's current ``token_version`` (a plain function check)."""

    def __init__(self) -> None:
        self.current: dict[str, int] = {}

    def __call__(self, principal: Principal) -> bool:
        return principal.claims.get("token_version", 0) < self.current.get(principal.user_id, 0)


@pytest.fixture
def versions() -> TokenVersions:
    return TokenVersions()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Broker]:
    """The broker the test's nodes listen on (their shared one with ``memory://``)."""
    shared = process_broker(load_settings(redis_url=redis_url))
    broker = shared or RedisBroker(redis_url)
    yield broker
    if shared is None:
        await broker.close()


async def test_revoke_closes_every_socket_of_the_user_on_every_node_within_a_second(
    tmp_path: Path, redis_url: str, redis: Broker, versions: TokenVersions
) -> None:
    settings = make_settings(tmp_path, redis_url)
    user, other = unique("alice"), unique("bob")
    async with (
        running_node(settings, revocation_check=versions) as first,
        running_node(settings, revocation_check=versions) as second,
    ):
        sockets = [
            await connect(node.ws(f"token={token(user, token_version=0)}&device=d{n}"))
            for n, node in enumerate((first, second, second))
        ]
        bystander = await connect(second.ws(f"token={token(other, token_version=0)}"))
        try:
            for ws in [*sockets, bystander]:
                await start_stream(ws)
            versions.current[user] = 1  # the host bumps the version, then announces it
            started = time.monotonic()
            await revoke(redis, user)
            codes = await asyncio.gather(*(close_code(ws, timeout=1.0) for ws in sockets))
            elapsed = time.monotonic() - started
            assert codes == [4403, 4403, 4403]
            assert elapsed < 1.0
            await bystander.send('{"type":"ack","seq":0}')  # still served
            assert bystander.close_code is None
            async with connect(first.ws(f"token={token(user, token_version=0)}")) as stale:
                assert await close_code(stale) == 4403
            async with connect(first.ws(f"token={token(user, token_version=1)}")) as fresh:
                assert (await recv(fresh))["type"] == "welcome"
        finally:
            for ws in [*sockets, bystander]:
                await ws.close()


async def test_the_sweep_closes_sockets_whose_token_the_check_now_revokes(
    tmp_path: Path, redis_url: str, versions: TokenVersions
) -> None:
    settings = make_settings(tmp_path, redis_url, revocation_interval_seconds=0.2)
    user, other = unique("alice"), unique("bob")
    async with running_node(settings, revocation_check=versions) as node:
        async with (
            connect(node.ws(f"token={token(user)}")) as ws,
            connect(node.ws(f"token={token(other)}")) as bystander,
        ):
            await start_stream(ws)
            await start_stream(bystander)
            versions.current[user] = 1  # revoked, and nobody says so
            assert await close_code(ws, timeout=2.0) == 4403
            await bystander.send('{"type":"ack","seq":0}')
            assert bystander.close_code is None


async def revoked_version_zero(principal: Principal) -> bool:
    """An async check, loadable as ``tests.delivery.test_ws_revocation:revoked_version_zero``."""
    return principal.claims.get("token_version") == 0


async def refused_then_served(node: Node) -> None:
    user = unique("alice")
    async with connect(node.ws(f"token={token(user, token_version=0)}")) as ws:
        assert await close_code(ws) == 4403
    async with connect(node.ws(f"token={token(user, token_version=1)}")) as ws:
        assert (await recv(ws))["type"] == "welcome"


async def test_an_async_check_works(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url)
    async with running_node(settings, revocation_check=revoked_version_zero) as node:
        await refused_then_served(node)


async def test_tidings_serve_loads_the_check_a_setting_names(
    tmp_path: Path, redis_url: str
) -> None:
    path = f"{__name__}:revoked_version_zero"
    settings = make_settings(tmp_path, redis_url, revocation_check=path)
    async with running_node(settings) as node:
        await refused_then_served(node)


async def test_revoke_says_so_when_redis_does_not_take_the_message() -> None:
    down = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(SignalUnavailable):
            await revoke(down, "alice")
    finally:
        await down.close()


async def test_revoke_leaves_a_socket_that_already_holds_a_fresh_token(
    tmp_path: Path, redis_url: str, redis: Broker, versions: TokenVersions
) -> None:
    """A password change: the other session is on the old token, the acting one on a new."""
    settings = make_settings(tmp_path, redis_url)
    user = unique("alice")
    async with running_node(settings, revocation_check=versions) as node:
        async with connect(node.ws(f"token={token(user, token_version=0)}&device=old")) as old:
            await start_stream(old)
            versions.current[user] = 1
            new_url = node.ws(f"token={token(user, token_version=1)}&device=new")
            async with connect(new_url) as new:
                await start_stream(new)
                await revoke(redis, user)
                assert await close_code(old, timeout=1.0) == 4403
                await new.send('{"type":"ack","seq":0}')
                with pytest.raises(TimeoutError):
                    await recv(new, timeout=0.3)
                assert new.close_code is None


async def test_without_a_check_revoke_closes_every_socket_of_the_user(
    tmp_path: Path, redis_url: str, redis: Broker
) -> None:
    user = unique("alice")
    async with running_node(make_settings(tmp_path, redis_url)) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            await revoke(redis, user)
            assert await close_code(ws, timeout=1.0) == 4403
