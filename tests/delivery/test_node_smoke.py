"""The end-to-end path on one node: emit, route, replay, live, over a real socket."""

import asyncio
import json
from pathlib import Path

import websockets

from outbox.records import Users
from tests.delivery.helpers import pending, until
from tests.delivery.node import emit, make_settings, running_node, running_worker, token


async def test_replay_then_live_over_a_real_socket(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url)
    async with running_node(settings) as node, running_worker(settings):
        await emit(settings, "hello", {"n": 1}, Users(("alice",)))

        async def routed() -> bool:
            return await pending(settings) == 0

        await until(routed, 10, "the worker to route the first emit")  # replayed, not live
        async with websockets.connect(node.ws(f"token={token('alice')}&since=0")) as ws:
            frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
            assert [f["type"] for f in frames] == ["welcome", "notification", "caught_up"]
            assert frames[1]["seq"] == 1 and frames[1]["data"] == {"n": 1}
            await emit(settings, "hello", {"n": 2}, Users(("alice",)))
            live = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (live["type"], live["seq"], live["data"]) == ("notification", 2, {"n": 2})
