"""Test doubles for the client's unit tests: a scripted server and a manual clock.

The client takes ``connect``, ``clock`` and ``sleep`` as parameters; these stand in for the
network and for time, so that behaviour tests run instantly and deterministically.
"""

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tidings_client import TransportClosed


async def settle(rounds: int = 30) -> None:
    """Let every ready callback and task run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeSocket:
    """One client socket; the test plays the server through ``push`` and ``server_close``."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.url = url
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self.query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self.headers = headers
        self.sent: list[str] = []
        self.closed_with: tuple[int, str] | None = None
        self._incoming: asyncio.Queue[str | TransportClosed] = asyncio.Queue()
        self._ended = False

    # Transport.

    async def recv(self) -> str:
        item = await self._incoming.get()
        if isinstance(item, TransportClosed):
            self._incoming.put_nowait(item)
            raise item
        return item

    async def send(self, text: str) -> None:
        if self._ended:
            raise TransportClosed(1006)
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        if self._ended:
            return
        self.closed_with = (code, reason)
        self._end(code, reason)

    # The server's side.

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.sent]

    async def push(self, *frames: dict[str, Any]) -> None:
        for frame in frames:
            self._incoming.put_nowait(json.dumps(frame))
        await settle()

    async def welcome(
        self, user: str = "alice", head: int = 0, since: int = 0, recovered: bool = True
    ) -> None:
        await self.push(
            {
                "type": "welcome",
                "user_id": user,
                "head": head,
                "since": since,
                "recovered": recovered,
                "device": "default",
            }
        )

    async def server_close(self, code: int) -> None:
        self._end(code, "")
        await settle()

    def _end(self, code: int, reason: str) -> None:
        self._ended = True
        self._incoming.put_nowait(TransportClosed(code, reason))


class FakeServer:
    """The ``connect`` callable: records every socket the client opens."""

    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []

    async def connect(self, url: str, headers: Any) -> FakeSocket:
        socket = FakeSocket(url, dict(headers))
        self.sockets.append(socket)
        return socket

    @property
    def last(self) -> FakeSocket:
        return self.sockets[-1]


def note(seq: int, **extra: Any) -> dict[str, Any]:
    """A notification frame for ``seq``."""
    return {
        "type": "notification",
        "seq": seq,
        "id": f"n{seq}",
        "event": "test.note",
        "data": {"seq": seq},
        "created_at": "2024-05-01T12:00:00Z",
        "origin_session": None,
        **extra,
    }


def item(seq: int, **extra: Any) -> dict[str, Any]:
    """A REST item (a notification frame without ``type``)."""
    fields = note(seq, **extra)
    del fields["type"]
    return fields


class ManualClock:
    """Wall time and sleeping that move only when the test calls :meth:`advance`."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self._sleepers: list[tuple[float, int, asyncio.Future[None], float]] = []
        self._count = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + max(0.0, delay), self._count, future, delay)
        self._count += 1
        self._sleepers.append(entry)
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def pending(self) -> list[float]:
        """Delays of the sleeps in progress, oldest first."""
        return [delay for _, _, future, delay in self._sleepers if not future.done()]

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking due sleepers in order and letting each one run."""
        end = self.now + seconds
        await settle()
        while True:
            due = [entry for entry in self._sleepers if entry[0] <= end and not entry[2].done()]
            if not due:
                break
            entry = min(due, key=lambda found: (found[0], found[1]))
            self._sleepers.remove(entry)
            self.now = max(self.now, entry[0])
            entry[2].set_result(None)
            await settle()
        self.now = end
        await settle()
