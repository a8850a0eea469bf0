"""4408: a client that stops reading is closed, and nobody else on the node notices."""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_hooks import build_record
from outbox.records import OutboxRecord
from tests.delivery.helpers import (
    RawWebSocket,
    StreamClient,
    big_text,
    commit,
    for_user,
    metric_value,
    records,
    unique,
    until,
    wait_ready,
)
from tests.delivery.node import Node, make_settings, running_node, running_worker, token

BLOB = 16 * 1024


def _kernel_send_buffer_max() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


# Enough big notifications to fill the largest send buffer the kernel may give the server,
# with room to spare, so that the server's writes must stall (400 with Linux defaults).
NOTES = max(400, (_kernel_send_buffer_max() * 3 // 2 + 2 * 1024 * 1024) // BLOB)
TCP_CLOSE = 7  # include/net/tcp_states.h


def interleaved(slow: str, fast: str) -> list[OutboxRecord]:
    """Big notifications for the slow user, small ones for the fast user, alternating."""
    blob = big_text(BLOB)
    now = datetime.now(UTC)
    batch = []
    for number in range(NOTES):
        batch.append(build_record(event="big", data={"blob": blob}, to=for_user(slow), now=now))
        batch.append(build_record(event="small", data={"i": number}, to=for_user(fast), now=now))
    return batch


def slow_settings(tmp_path: Path, redis_url: str, **overrides: Any) -> Any:
    # A small send queue, and small routed batches so that one live message never holds more
    # entries per user than the queue: only a client that does not read can overflow it.
    return make_settings(tmp_path, redis_url, send_queue_size=32, batch_size=5, **overrides)


async def stalled_client(node: Node, user: str) -> RawWebSocket:
    """A client that reads its welcome and caught_up, then never calls recv() again.

    It is a plain socket with a tiny receive buffer, driven by websockets' sans-I/O protocol:
    a library client would keep reading in the background, whereas this one lets the kernel
    buffers fill, so the server's writes stall for real.
    """
    client = await RawWebSocket.connect(node.ws(f"token={token(user)}&since=0"))
    deadline = time.monotonic() + 5
    while not any(frame["type"] == "caught_up" for frame in client.frames):
        assert time.monotonic() < deadline, client.frames
        await client.read_some(5)
    return client


async def closed_4408(http: httpx.AsyncClient) -> bool:
    return await metric_value(http, "ws_closes_total", code="4408") >= 1


@pytest.mark.slow
async def test_a_client_that_stops_reading_is_closed_4408_and_others_keep_up(
    tmp_path: Path, redis_url: str
) -> None:
    settings = slow_settings(tmp_path, redis_url)
    slow, fast = unique("slow"), unique("fast")
    async with (
        running_node(settings) as node,
        running_worker(settings),
        httpx.AsyncClient(base_url=node.http) as http,
    ):
        await wait_ready(node)
        async with StreamClient(node.ws(f"token={token(fast)}&since=0")) as fast_client:
            slow_client = await stalled_client(node, slow)
            try:
                await fast_client.wait_for(lambda _: bool(fast_client.of_type("caught_up")), "up")
                await commit(settings, interleaved(slow, fast))
                # The node counts the close once it has handed the close frame to the socket.
                await until(lambda: closed_4408(http), 30, "the node to close the slow client")

                # The fast client got everything, in order, and is still live.
                await fast_client.wait_for_seq(NOTES, timeout=30)
                assert fast_client.seqs() == list(range(1, NOTES + 1))
                await commit(settings, records(1, for_user(fast)))
                await fast_client.wait_for_seq(NOTES + 1)
                assert not fast_client.of_type("error")

                # Only now does the slow client read: what the kernel held, then the close.
                close = await slow_client.read_until_closed(10)
                assert close is not None and close.code == 4408, close
                seqs = [f["seq"] for f in slow_client.frames if f["type"] == "notification"]
                assert seqs == list(range(1, len(seqs) + 1))
                assert len(seqs) < NOTES  # it really fell behind
                assert await metric_value(http, "ws_connections") == 1  # the fast one
            finally:
                slow_client.close()


@pytest.mark.slow
async def test_a_client_that_never_reads_again_cannot_hold_its_socket(
    tmp_path: Path, redis_url: str
) -> None:
    settings = slow_settings(tmp_path, redis_url, ping_interval_seconds=2)
    slow = unique("slow")
    async with (
        running_node(settings) as node,
        running_worker(settings),
        httpx.AsyncClient(base_url=node.http) as http,
    ):
        await wait_ready(node)
        slow_client = await stalled_client(node, slow)
        try:
            await commit(settings, interleaved(slow, unique("nobody")))
            await until(lambda: closed_4408(http), 30, "the node to close the slow client")

            async def reset() -> bool:
                return slow_client.tcp_state() == TCP_CLOSE

            # The close frame cannot flush; the node drops the socket instead of keeping it.
            await until(reset, 10, "the node to drop the socket of a client that never reads")
        finally:
            slow_client.close()


async def test_bursts_larger_than_the_send_queue_do_not_close_a_client_that_reads(
    tmp_path: Path, redis_url: str
) -> None:
    # Pages and routed batches far larger than the queue: 4408 is for clients that do not read,
    # not for a burst that a reading client takes at once.
    settings = make_settings(
        tmp_path, redis_url, send_queue_size=8, replay_page_size=200, batch_size=100
    )
    user = unique("fast")
    await commit(settings, records(150, for_user(user)))
    async with running_node(settings) as node, running_worker(settings):
        await wait_ready(node)
        async with StreamClient(node.ws(f"token={token(user)}&since=0")) as client:
            await client.wait_for_seq(150)
            await client.wait_for(lambda _: bool(client.of_type("caught_up")), "caught_up")
            await commit(settings, records(300, for_user(user)))
            await client.wait_for_seq(450)
            await client.settle()
            assert client.seqs() == list(range(1, 451))
