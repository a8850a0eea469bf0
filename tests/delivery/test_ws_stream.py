"""G5 across the replay-to-live handoff under concurrent emits (one node and two), and G7."""

import asyncio
import contextlib
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from broker import Broker, RedisBroker
from foundation.constants import WAKE_CHANNEL
from outbox.records import Users
from outbox.stores.sqlite.store import SqliteStore
from tests.delivery.helpers import (
    StreamClient,
    bearer,
    commit,
    connect,
    emit_routed,
    for_user,
    records,
    route,
    start_stream,
    store_head,
    unique,
    wait_for_head,
    wait_ready,
)
from tests.delivery.node import (
    Node,
    make_settings,
    process_broker,
    running_node,
    running_worker,
    token,
)

ROUNDS = 24
BACKLOG = 300
PAGE = 50


async def emit_live(
    settings: Any, broker: Broker, user: str, count: int, started: asyncio.Event, after: int
) -> None:
    """Commit ``count`` records for ``user`` one by one, waking the worker after each."""
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        for number in range(count):
            if number == after:
                started.set()
            await store.add_records(records(1, for_user(user), event="live.note"))
            await broker.publish(WAKE_CHANNEL, [b""])
    finally:
        started.set()
        await store.close()


def assert_g5(client: StreamClient, since: int, final: int) -> None:
    frames = client.frames
    welcome = frames[0]
    assert welcome["type"] == "welcome", frames[:2]
    assert (welcome["since"], welcome["recovered"]) == (since, True), welcome
    seqs = client.seqs()
    assert seqs == list(range(since + 1, final + 1)), (since, final, seqs)
    caught_up = client.of_type("caught_up")
    assert len(caught_up) == 1, caught_up
    position = frames.index(caught_up[0])
    sent_before = [f["seq"] for f in frames[:position] if f["type"] == "notification"]
    assert caught_up[0]["seq"] == (sent_before[-1] if sent_before else since)
    kinds = {f["type"] for f in frames[1:]}
    assert kinds <= {"notification", "caught_up", "error"}, kinds


async def handoff_round(
    nodes: list[Node], settings: Any, broker: Broker, user: str, rng: random.Random
) -> None:
    """Clients connect with a random ``since`` below the head while live entries flow."""
    head = await store_head(settings, user)
    sinces = [rng.randrange(0, head) for _ in nodes]
    live = rng.randrange(10, 40)
    started = asyncio.Event()
    emitter = asyncio.create_task(
        emit_live(settings, broker, user, live, started, rng.randrange(0, live // 2))
    )
    async with contextlib.AsyncExitStack() as stack:
        await started.wait()
        clients = [
            await stack.enter_async_context(
                StreamClient(node.ws(f"token={token(user)}&since={since}"))
            )
            for node, since in zip(nodes, sinces, strict=True)
        ]
        await emitter
        final = head + live
        await wait_for_head(settings, user, final)
        for client in clients:
            await client.wait_for_seq(final)
            await client.settle()
        for client, since in zip(clients, sinces, strict=True):
            assert_g5(client, since, final)


async def race(nodes_wanted: int, tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url, replay_page_size=PAGE)
    users = [unique(f"g5-{number}") for number in range(ROUNDS)]
    await commit(settings, records(BACKLOG, Users(tuple(users))))
    await route(settings)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    broker = process_broker(settings) or RedisBroker(redis_url)
    try:
        async with contextlib.AsyncExitStack() as stack:
            nodes = [
                await stack.enter_async_context(running_node(settings)) for _ in range(nodes_wanted)
            ]
            for node in nodes:
                await wait_ready(node)
            await stack.enter_async_context(running_worker(settings))
            for user in users:
                try:
                    await handoff_round(nodes, settings, broker, user, rng)
                except AssertionError as error:
                    raise AssertionError(f"seed {seed}, user {user}: {error}") from error
    finally:
        await broker.close()


@pytest.mark.slow
async def test_g5_replay_to_live_handoff_on_one_node(tmp_path: Path, redis_url: str) -> None:
    await race(1, tmp_path, redis_url)


@pytest.mark.slow
async def test_g5_replay_to_live_handoff_across_two_nodes(tmp_path: Path, redis_url: str) -> None:
    await race(2, tmp_path, redis_url)


# G7: retention.


async def trimmed_settings(tmp_path: Path, redis_url: str, user: str) -> Any:
    """Seqs 1-5 routed, then trimmed; seqs 6-10 retained."""
    settings = make_settings(tmp_path, redis_url)
    await emit_routed(settings, 5, for_user(user))
    floor = datetime.now(UTC)
    await emit_routed(settings, 5, for_user(user))
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        assert await store.trim(floor) == 5
    finally:
        await store.close()
    return settings


RETENTION_CASES = [(0, False), (3, False), (4, False), (5, True), (8, True), (10, True)]


async def test_g7_since_older_than_retention_is_not_recovered_over_websocket(
    tmp_path: Path, redis_url: str
) -> None:
    user = unique("alice")
    settings = await trimmed_settings(tmp_path, redis_url, user)
    async with running_node(settings) as node:
        for since, recovered in RETENTION_CASES:
            async with connect(node.ws(f"token={token(user)}&since={since}")) as ws:
                welcome, frames = await start_stream(ws)
            assert (welcome["since"], welcome["recovered"]) == (since, recovered), since
            sent = [f["seq"] for f in frames if f["type"] == "notification"]
            assert sent == list(range(max(since, 5) + 1, 11)), since
            assert frames[-1] == {"type": "caught_up", "seq": 10}


async def test_g7_since_older_than_retention_is_not_recovered_over_rest(
    tmp_path: Path, redis_url: str
) -> None:
    user = unique("alice")
    settings = await trimmed_settings(tmp_path, redis_url, user)
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        for since, recovered in RETENTION_CASES:
            response = await http.get(f"/notifications?since={since}", headers=bearer(token(user)))
            body = response.json()
            assert (response.status_code, body["recovered"]) == (200, recovered), since
            assert [item["seq"] for item in body["items"]] == list(range(max(since, 5) + 1, 11))
            assert body["head"] == 10


async def test_unread_after_a_trim_counts_what_a_client_can_fetch(
    tmp_path: Path, redis_url: str
) -> None:
    user = unique("alice")
    settings = await trimmed_settings(tmp_path, redis_url, user)
    headers = bearer(token(user))
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        for acked in (0, 3, 7, 10):
            device = f"d{acked}"
            if acked:
                body = {"seq": acked, "device": device}
                assert (
                    await http.post("/notifications/ack", json=body, headers=headers)
                ).is_success
            fetchable = (await http.get(f"/notifications?since={acked}", headers=headers)).json()
            cursor = await http.get(f"/notifications/cursor?device={device}", headers=headers)
            assert cursor.json() == {
                "head": 10,
                "acked": acked,
                "unread": len(fetchable["items"]),
            }, acked
            async with connect(node.ws(f"token={token(user)}&device={device}")) as ws:
                welcome, _ = await start_stream(ws)
            assert welcome["unread"] == len(fetchable["items"]), acked
