"""How connections end: a client that resets, acks sent right before a close, odd frames.

These run on both runtimes (see ``conftest.py``), like every test that starts a node.
"""

import asyncio
import json
import logging
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.frames import Opcode

from tests.delivery.helpers import (
    RawWebSocket,
    bearer,
    big_text,
    connect,
    emit_routed,
    for_user,
    metric_samples,
    metric_value,
    recv,
    unique,
    until,
)
from tests.delivery.node import make_settings, running_node, token

LINGER_RESET = struct.pack("ii", 1, 0)  # close() sends a TCP reset


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Any:
    return make_settings(tmp_path, redis_url)


@pytest.fixture
def logged() -> Iterator[Collect]:
    """Every record of every logger while the test runs; attach it again after starting a
    node (uvicorn's logging configuration replaces the root's handlers)."""
    handler = Collect()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


async def closes(http: httpx.AsyncClient) -> dict[str, float]:
    samples = (await metric_samples(http)).get("ws_closes", [])
    return {s.labels["code"]: s.value for s in samples if s.name == "ws_closes_total"}


async def test_a_client_that_resets_mid_replay_is_counted_and_logs_no_error(
    settings: Any, logged: Collect
) -> None:
    user = unique("alice")
    await emit_routed(settings, 300, for_user(user), data={"blob": big_text(4096)})
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        logging.getLogger().addHandler(logged)
        client = await RawWebSocket.connect(node.ws(f"token={token(user)}&since=0"))
        while not client.frames:  # the welcome: the replay is being written now
            await client.read_some(5)
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        client.close()

        async def counted() -> bool:
            return sum((await closes(http)).values()) >= 1

        await until(counted, 10, "the reset connection to be counted as closed")
        ended = await closes(http)
        assert set(ended) <= {"1005", "1006"} and sum(ended.values()) == 1, ended

        async def unregistered() -> bool:
            return await metric_value(http, "ws_connections") == 0

        await until(unregistered, 5, "the connection to leave the node")
    errors = [r for r in logged.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def test_an_ack_sent_just_before_a_close_is_stored(settings: Any) -> None:
    user = unique("alice")
    await emit_routed(settings, 10, for_user(user))
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        for attempt in range(1, 11):
            client = await RawWebSocket.connect(node.ws(f"token={token(user)}&since=0"))
            try:
                while not any(f["type"] == "caught_up" for f in client.frames):
                    await client.read_some(5)
                # The ack and the close frame in one write: they reach the node together.
                client.protocol.send_text(json.dumps({"type": "ack", "seq": attempt}).encode())
                client.protocol.send_close(1000)
                data = b"".join(client.protocol.data_to_send())
                await asyncio.get_running_loop().sock_sendall(client.sock, data)
                close = await client.read_until_closed(5)
                assert close is not None and close.code == 1000
            finally:
                client.close()

            async def stored(seq: int = attempt) -> bool:
                answer = await http.get("/notifications/cursor", headers=bearer(token(user)))
                return bool(answer.json()["acked"] == seq)

            await until(stored, 5, f"ack {attempt}, sent right before the close, to be stored")


async def test_a_fragmented_client_message_is_read_whole(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        client = await RawWebSocket.connect(node.ws(f"token={token(user)}&since=0"))
        try:
            while not any(f["type"] == "caught_up" for f in client.frames):
                await client.read_some(5)
            text = json.dumps({"type": "ack", "seq": 7}).encode()
            client.protocol.send_text(text[:5], fin=False)
            client.protocol.send_continuation(text[5:12], fin=False)
            client.protocol.send_continuation(text[12:], fin=True)
            for data in client.protocol.data_to_send():
                await asyncio.get_running_loop().sock_sendall(client.sock, data)
            while not any(f["type"] == "error" for f in client.frames):
                await client.read_some(5)
            assert client.frames[-1]["code"] == "ack_above_head"  # the whole ack, understood
        finally:
            client.close()


async def test_text_that_is_not_utf8_closes_1007(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        client = await RawWebSocket.connect(node.ws(f"token={token(user)}&since=0"))
        try:
            while not any(f["type"] == "caught_up" for f in client.frames):
                await client.read_some(5)
            client.protocol.send_text(b'{"type":"ack","seq":\xff}')
            for data in client.protocol.data_to_send():
                await asyncio.get_running_loop().sock_sendall(client.sock, data)
            close = await client.read_until_closed(5)
            assert close is not None and close.code == 1007
        finally:
            client.close()


async def test_an_upgrade_to_another_path_is_refused(settings: Any) -> None:
    async with running_node(settings) as node:
        url = node.ws(f"token={token(unique('alice'))}").replace("/ws?", "/elsewhere?")
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, proxy=None, open_timeout=5):
                pass
        assert 400 <= refused.value.response.status_code < 500
        async with connect(node.ws(f"token={token(unique('bob'))}")) as ws:
            assert (await recv(ws))["type"] == "welcome"  # the node serves /ws still


async def test_a_client_that_never_answers_pings_is_closed(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url, ping_interval_seconds=1)
    async with running_node(settings) as node:
        client = await RawWebSocket.connect(node.ws(f"token={token(unique('alice'))}&since=0"))
        try:
            while not any(f["type"] == "caught_up" for f in client.frames):
                await client.read_some(5)
            # From here on nothing is read, so no ping is answered.

            async def dropped() -> bool:
                return client.tcp_state() != 1  # TCP_ESTABLISHED

            await until(dropped, 10, "the node to close a client that answers no ping")
        finally:
            client.close()


class PingCountingClient(RawWebSocket):
    """A raw client that answers pings (websockets queues the pong) and counts them."""

    pings = 0

    def _collect(self) -> None:
        for event in self.protocol.events_received():
            if getattr(event, "opcode", None) is Opcode.PING:
                self.pings += 1
            elif getattr(event, "opcode", None) is Opcode.TEXT:
                self.frames.append(json.loads(event.data))


async def test_a_client_that_answers_pings_stays_connected(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url, ping_interval_seconds=0.5)
    async with running_node(settings) as node:
        url = node.ws(f"token={token(unique('alice'))}&since=0")
        client = await PingCountingClient.connect(url)
        try:
            # Each ping is answered by the next read; three of them outlast a pong deadline.
            while client.pings < 3:
                assert await client.read_some(5), "the node closed a client that answers pings"
            client.protocol.send_text(json.dumps({"type": "ack", "seq": 5}).encode())
            for data in client.protocol.data_to_send():
                await asyncio.get_running_loop().sock_sendall(client.sock, data)
            while not any(frame["type"] == "error" for frame in client.frames):
                await client.read_some(5)
            assert client.frames[-1]["code"] == "ack_above_head"  # still served
        finally:
            client.close()
