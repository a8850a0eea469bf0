"""Client-side helpers for the delivery integration tests: frames, closes, emits, deadlines.

Everything waits on a condition with a deadline; nothing sleeps to let a race settle.
"""

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from api_hooks import build_record
from foundation.settings import Settings
from outbox.records import Audience, OutboxRecord, Users
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from outbox.worker import serve as serve_worker
from tests.delivery.node import Node, process_broker

RECV_SECONDS = 5.0


def unique(name: str) -> str:
    """A user id of this test's own: nodes share Redis pub/sub with anything on the server."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def connect(url: str, **kwargs: Any) -> Any:
    """``websockets.connect`` straight to loopback (no proxy), with short timeouts."""
    options: dict[str, Any] = {"proxy": None, "open_timeout": 5, "close_timeout": 2}
    options.update(kwargs)
    return websockets.connect(url, **options)


async def recv(ws: ClientConnection, timeout: float = RECV_SECONDS) -> dict[str, Any]:
    """The next frame as JSON; fails the test after ``timeout`` seconds."""
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def close_code(ws: ClientConnection, timeout: float = RECV_SECONDS) -> int | None:
    """Read until the server closes; return the code it sent (None: no close frame).

    Frames still in flight before the close are discarded.
    """
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ConnectionClosed):
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the server did not close the connection in time")
            await asyncio.wait_for(ws.recv(), remaining)
    received = ws.protocol.close_rcvd
    return received.code if received is not None else None


async def start_stream(ws: ClientConnection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The welcome, then every frame up to and including ``caught_up``."""
    welcome = await recv(ws)
    assert welcome["type"] == "welcome", welcome
    frames = []
    while True:
        frame = await recv(ws)
        frames.append(frame)
        if frame["type"] == "caught_up":
            return welcome, frames


async def until(
    condition: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


# Emitting and routing.


def records(
    count: int, to: Audience, *, event: str = "test.note", data: dict[str, Any] | None = None
) -> list[OutboxRecord]:
    """``count`` records with ``data`` plus ``{"i": n}``, in order."""
    now = datetime.now(UTC)
    return [
        build_record(event=event, data={**(data or {}), "i": i}, to=to, now=now)
        for i in range(count)
    ]


async def commit(settings: Settings, batch: list[OutboxRecord]) -> None:
    """Commit ``batch`` to the outbox in one transaction (migrating a new store first)."""
    apply_sqlite(settings.sqlite_path)
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        await store.add_records(batch)
    finally:
        await store.close()


async def route(settings: Settings) -> None:
    """Route everything pending now (a burst worker), publishing live signals."""
    await serve_worker(settings, burst=True, broker=process_broker(settings))


async def pending(settings: Settings) -> int:
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        return (await store.lag()).pending
    finally:
        await store.close()


async def emit_routed(settings: Settings, count: int, to: Audience, **kwargs: Any) -> None:
    """Commit ``count`` records and return once they are routed.

    Routes with a burst worker, or lets a running worker do it when it holds the lease.
    """
    await commit(settings, records(count, to, **kwargs))

    async def routed() -> bool:
        await route(settings)
        return await pending(settings) == 0

    await until(routed, 10, "the records to be routed")


async def store_head(settings: Settings, user_id: str) -> int:
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        return await store.head(user_id)
    finally:
        await store.close()


async def wait_for_head(settings: Settings, user_id: str, head: int, timeout: float = 10) -> None:
    async def reached() -> bool:
        return await store_head(settings, user_id) >= head

    await until(reached, timeout, f"{user_id}'s head to reach {head}")


def for_user(user_id: str) -> Users:
    return Users((user_id,))


# HTTP.


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


@contextlib.asynccontextmanager
async def http_client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node.http, timeout=5) as client:
        yield client


async def metric_samples(client: httpx.AsyncClient) -> dict[str, list[Any]]:
    """``/metrics`` parsed: family name to its samples."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    return {
        family.name: list(family.samples)
        for family in text_string_to_metric_families(response.text)
    }


async def metric_value(client: httpx.AsyncClient, sample: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    for samples in (await metric_samples(client)).values():
        for found in samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


# A WebSocket client that never reads unless told to.


@dataclass
class RawWebSocket:
    """A hand-driven WebSocket client on a plain socket: it reads only when asked.

    Its kernel receive buffer is made small, so a server writing to it fills it quickly.
    Frames are parsed by websockets' sans-I/O client protocol.
    """

    sock: socket.socket
    protocol: ClientProtocol
    frames: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def connect(cls, url: str, *, receive_buffer: int = 4096) -> "RawWebSocket":
        loop = asyncio.get_running_loop()
        uri = parse_uri(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await loop.sock_connect(sock, (uri.host, uri.port))
        protocol = ClientProtocol(uri)  # no extensions: no compression to shrink the frames
        protocol.send_request(protocol.connect())
        client = cls(sock, protocol)
        await client._flush()
        while protocol.handshake_exc is None and not client._handshake_done():
            await client.read_some(RECV_SECONDS)
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        return client

    def _handshake_done(self) -> bool:
        return self.protocol.state is not State.CONNECTING

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def read_some(self, timeout: float) -> bool:
        """Read what the kernel has (waiting at most ``timeout``); False at end of stream."""
        data = await asyncio.wait_for(
            asyncio.get_running_loop().sock_recv(self.sock, 1 << 20), timeout
        )
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        self._collect()
        await self._flush()
        return bool(data)

    def _collect(self) -> None:
        for event in self.protocol.events_received():
            if getattr(event, "opcode", None) is Opcode.TEXT:
                self.frames.append(json.loads(event.data))

    async def read_until_closed(self, timeout: float) -> Close | None:
        """Read everything until the server's close frame or the end of the stream."""
        deadline = time.monotonic() + timeout
        while self.protocol.close_rcvd is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the server did not close the raw connection in time")
            if not await self.read_some(remaining):
                break
        return self.protocol.close_rcvd

    def tcp_state(self) -> int:
        """The kernel's TCP state of this socket (Linux ``TCP_INFO``), read without reading."""
        return self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]

    def close(self) -> None:
        self.sock.close()


def big_text(size: int) -> str:
    """Incompressible text of ``size`` characters."""
    return os.urandom(size // 2 + 1).hex()[:size]


class StreamClient:
    """A WebSocket client that reads every frame in the background into ``frames``."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self.frames: list[dict[str, Any]] = []
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def ws(self) -> ClientConnection:
        assert self._ws is not None
        return self._ws

    async def __aenter__(self) -> "StreamClient":
        self._ws = await connect(self.url, **self.options)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.ws.close()

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                self.frames.append(json.loads(message))

    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.frames if frame["type"] == "notification"]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["type"] == kind]

    async def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float = 10
    ) -> None:
        async def holds() -> bool:
            if self._reader is not None and self._reader.done() and not predicate(self.frames):
                raise AssertionError(f"connection closed before {what}: {self.frames[-3:]}")
            return predicate(self.frames)

        await until(holds, timeout, what, interval=0.005)

    async def wait_for_seq(self, seq: int, timeout: float = 10) -> None:
        await self.wait_for(lambda _: seq in self.seqs(), f"seq {seq}", timeout)

    async def settle(self, timeout: float = 5) -> None:
        """Wait until every frame the server queued before now has arrived.

        Sends an ack above any head and waits for its error frame, which the server writes
        after everything queued before it.
        """
        marker = len(self.of_type("error"))
        await self.ws.send(json.dumps({"type": "ack", "seq": 2**63 - 1}))
        await self.wait_for(
            lambda _: len(self.of_type("error")) > marker, "the probe's answer", timeout
        )


async def wait_ready(node: Node, timeout: float = 10) -> None:
    """Until ``/readyz`` answers 200 (store, Redis and the live subscription up)."""
    async with http_client(node) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await until(ready, timeout, "the node to be ready")
