"""Real services a test owns: a free loopback port and a ``redis-server`` it can stop.

The shared Redis (see conftest) serves most tests; a test that takes Redis down starts its
own here so that nothing else is affected.
"""

import asyncio
import contextlib
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

STARTUP_SECONDS = 10.0


@contextlib.asynccontextmanager
async def serving(server: Any, name: str) -> AsyncIterator[int]:
    """Run a ``uvicorn.Server`` in this loop until the block ends (then shut it down as on
    SIGTERM); yields its port. ``RuntimeError`` naming ``name`` if it does not start."""
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            await task
            raise RuntimeError(f"{name} did not start")
        await asyncio.sleep(0.01)  # uvicorn offers no startup event to wait on
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateRedis:
    """``redis-server`` on a port of its own, without persistence, on loopback.

    ``stop`` kills it (an outage, not a clean shutdown); ``start`` again brings it back on
    the same port.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)  # polling a starting process, with a deadline

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5)
            self._process = None


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, stopped at the end of the block."""
    server = PrivateRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Balancer:
    """A TCP load balancer on loopback, as in front of several delivery nodes.

    Each new connection goes to the next port of ``rotation`` (round robin); a test takes a
    node out of the rotation the way a balancer's health check would. Connections already
    made stay where they are until one side closes.
    """

    def __init__(self, rotation: list[int]) -> None:
        self.rotation = rotation
        self.port = 0
        self._turn = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server.abort_clients()
            await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = self.rotation[self._turn % len(self.rotation)]
        self._turn += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then close the other side (no half-closed connections)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


_ANNOUNCED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def announced_port(log: str) -> int | None:
    """The port a server started with ``TIDINGS_PORT=0`` says it listens on, once it does.

    A port picked by the test and passed to a subprocess could be taken by anyone before the
    subprocess binds it; port 0 cannot.
    """
    found = _ANNOUNCED.search(log)
    return int(found.group(1)) if found else None
