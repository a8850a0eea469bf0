"""The in-process broker (``memory://``): everything one process needs, and no Redis.

Signals are delivered to the process's own subscribers, state lives in a dictionary, and rate
limits count in the ``limits`` package's memory storage. Nothing crosses a process boundary,
so a deployment of several processes (a worker beside a node, two nodes) needs Redis:
``tidings serve`` and ``tidings worker`` refuse ``memory://``; ``tidings run``, the demo and a
host app running the worker in its own process (``Tidings(worker=True)``) accept it.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Final

from limits.aio.storage import MemoryStorage, Storage


class MemorySubscription:
    """Messages of the subscribed channels, queued as they are published."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            yield await self.queue.get()


class MemoryBroker:
    """The broker of one process. Build one per process and hand it to every component."""

    spans_processes: Final = False

    def __init__(self) -> None:
        self._subscribers: dict[str, set[MemorySubscription]] = {}
        self._values: dict[str, tuple[bytes, float]] = {}  # key -> (value, expires at)
        self._counters: dict[str, int] = {}
        self._rate_limits = MemoryStorage()

    async def publish(
        self, channel: str, messages: Sequence[bytes], *, count: tuple[str, int] | None = None
    ) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            for message in messages:
                subscription.queue.put_nowait((channel, message))
        if count is not None and count[1]:
            await self.add(*count)

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Sequence[str]) -> AsyncIterator[MemorySubscription]:
        subscription = MemorySubscription()
        for channel in channels:
            self._subscribers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            for channel in channels:
                self._subscribers[channel].discard(subscription)

    async def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._values[key] = (value, time.monotonic() + ttl_seconds)

    async def take(self, key: str) -> bytes | None:
        found = self._values.pop(key, None)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def values(self, prefix: str) -> list[bytes]:
        now = time.monotonic()
        for key in [key for key, (_, until) in self._values.items() if until <= now]:
            del self._values[key]
        return [value for key, (value, _) in self._values.items() if key.startswith(prefix)]

    async def add(self, key: str, amount: int) -> int:
        self._counters[key] = self._counters.get(key, 0) + amount
        return self._counters[key]

    async def counter(self, key: str) -> int:
        return self._counters.get(key, 0)

    async def ping(self) -> None:
        return None

    def rate_limit_storage(self) -> Storage:
        return self._rate_limits

    async def close(self) -> None:
        self._subscribers.clear()
        self._values.clear()
        with contextlib.suppress(Exception):
            await self._rate_limits.reset()
