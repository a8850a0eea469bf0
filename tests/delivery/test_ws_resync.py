"""A node that missed live signals (Redis down) catches its clients up without a reconnect."""

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.delivery.helpers import StreamClient, emit_routed, for_user, unique, wait_ready
from tests.delivery.node import make_settings, running_node, token
from tests.services import private_redis


async def test_entries_routed_while_redis_was_down_arrive_after_it_returns(
    tmp_path: Path,
) -> None:
    # Burst workers route here, so that no worker outlives the outage and republishes what
    # it could not publish: the signals for seqs 3-5 are really lost, and only the node's
    # resync after it resubscribes can deliver them.
    user = unique("alice")
    with private_redis() as redis_server:
        settings = make_settings(tmp_path, redis_server.url)
        async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
            await wait_ready(node)
            async with StreamClient(node.ws(f"token={token(user)}&since=0")) as client:
                await client.wait_for(lambda f: bool(client.of_type("caught_up")), "caught_up")
                await emit_routed(settings, 2, for_user(user))
                await client.wait_for_seq(2)  # live, through Redis

                redis_server.stop()
                await emit_routed(settings, 3, for_user(user))  # routed without Redis
                assert (await http.get("/readyz")).status_code == 503
                # No signal can reach the node now; nothing more arrives on its own.
                with pytest.raises(AssertionError, match="timed out"):
                    await client.wait_for_seq(3, timeout=0.5)
                assert client.seqs() == [1, 2]

                await asyncio.to_thread(redis_server.start)  # off the loop the node runs in
                await client.wait_for_seq(5, timeout=15)
                assert client.seqs() == [1, 2, 3, 4, 5]
                assert len(client.of_type("welcome")) == 1  # the same connection throughout
                assert len(client.of_type("caught_up")) == 1
                await wait_ready(node)

                # And it is live again.
                await emit_routed(settings, 1, for_user(user))
                await client.wait_for_seq(6)
                assert client.seqs() == [1, 2, 3, 4, 5, 6]


async def test_readyz_and_healthz_with_everything_up(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url)
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        await wait_ready(node)
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        health = await http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})


async def test_readyz_is_503_without_redis(tmp_path: Path) -> None:
    with private_redis() as redis_server:
        settings = make_settings(tmp_path, redis_server.url)
        async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
            await wait_ready(node)
            redis_server.stop()
            started = asyncio.get_running_loop().time()
            response = await http.get("/readyz")
            assert response.status_code == 503
            assert response.json()["code"] == "not_ready"
            assert asyncio.get_running_loop().time() - started < 3  # bounded, never hangs
            assert (await http.get("/healthz")).status_code == 200
