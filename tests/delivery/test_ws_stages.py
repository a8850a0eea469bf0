"""Per-stage latency of live frames, and the connection count ``tidings status`` reads."""

import json
from pathlib import Path

import pytest

from broker import RedisBroker
from tests.delivery.helpers import (
    StreamClient,
    emit_routed,
    for_user,
    http_client,
    metric_value,
    unique,
    until,
    wait_ready,
)
from tests.delivery.node import make_settings, running_node, token
from tidings.operator_commands import read_traffic


async def test_live_frames_are_timed_from_routing_to_write_to_ack(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path, redis_url)
    user = unique("alice")
    async with running_node(settings) as node, http_client(node) as http:
        await wait_ready(node)
        async with StreamClient(node.ws(f"token={token(user)}")) as client:
            await client.wait_for(lambda _: bool(client.of_type("caught_up")), "caught_up")
            await emit_routed(settings, 3, for_user(user))
            await client.wait_for_seq(3)
            assert await metric_value(http, "routed_to_written_seconds_count") == 3
            assert await metric_value(http, "written_to_acked_seconds_count") == 0

            await client.ws.send(json.dumps({"type": "ack", "seq": 2}))
            await client.settle()  # the ack is stored before the probe is answered
            assert await metric_value(http, "written_to_acked_seconds_count") == 2
            await client.ws.send(json.dumps({"type": "ack", "seq": 3}))
            await client.settle()
            assert await metric_value(http, "written_to_acked_seconds_count") == 3


@pytest.mark.redis_only  # tidings status reads the nodes' reports from Redis
async def test_nodes_report_their_connections_for_status(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url)
    redis = RedisBroker(redis_url)
    try:
        async with running_node(settings) as node:
            await wait_ready(node)
            async with StreamClient(node.ws(f"token={token(unique('bob'))}")) as client:
                await client.wait_for(lambda _: bool(client.of_type("caught_up")), "caught_up")

                async def counted() -> bool:
                    return ((await read_traffic(redis)).connections or 0) >= 1

                await until(counted, 15, "the node's report of its connection")
        assert (await read_traffic(redis)).connections == 0  # the node removed its report
    finally:
        await redis.close()
