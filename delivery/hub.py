"""One Redis subscription per delivery node, fanned out to the node's connections.

Redis pub/sub is only a signal: the worker publishes each routed batch once on
``LIVE_CHANNEL`` and every node keeps the entries of users it holds. Whatever a node misses
(Redis down, its subscription dropped) it recovers from the store: after every
(re)subscription the hub tells each connection to resync, and each connection reads its
user's inbox after the last seq it sent. Clients never have to reconnect for that.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from foundation.constants import LIVE_CHANNEL
from foundation.outage import Outage
from outbox.live_wire import decode_live_batch
from outbox.records import InboxEntry, Notification

log = logging.getLogger(__name__)


class LiveListener(Protocol):
    """A connection as the hub sees it. Callbacks must not block or await."""

    @property
    def user_id(self) -> str: ...

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        """New entries of this listener's user, in seq order."""

    def on_broadcast(self, notification: Notification) -> None:
        """A best-effort broadcast to everyone connected."""

    def on_resync(self) -> None:
        """Live signals may have been missed: read the store after the last seq sent."""

    def shut_down(self) -> None:
        """The node is stopping: close with 1001."""


class LiveHub:
    """Keeps one subscription alive and dispatches batches to local listeners."""

    def __init__(self, redis: aioredis.Redis, *, channel: str = LIVE_CHANNEL) -> None:
        self._redis = redis
        self._channel = channel
        self._outage = Outage("redis (live subscription)", logger=log, base_seconds=0.05)
        self._listeners: defaultdict[str, set[LiveListener]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    @property
    def subscribed(self) -> bool:
        """True while the Redis subscription is up (readiness)."""
        return self._subscribed.is_set()

    def add(self, listener: LiveListener) -> None:
        """Start dispatching to ``listener``; call before reading the store for it."""
        self._listeners[listener.user_id].add(listener)

    def remove(self, listener: LiveListener) -> None:
        """Stop dispatching to ``listener``; unknown listeners are ignored."""
        listeners = self._listeners.get(listener.user_id)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[listener.user_id]

    def connections_of(self, user_id: str) -> int:
        """How many listeners this node holds for ``user_id``."""
        return len(self._listeners.get(user_id, ()))

    @property
    def connection_count(self) -> int:
        """How many listeners this node holds in all."""
        return sum(len(listeners) for listeners in self._listeners.values())

    async def close_all(self, grace_seconds: float) -> None:
        """Ask every listener to close (1001, server going away) and wait, at most
        ``grace_seconds``, until all have unregistered."""
        for listener in self._all_listeners():
            listener.shut_down()
        deadline = asyncio.get_running_loop().time() + grace_seconds
        while self.connection_count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # each connection unregisters once its 1001 is sent

    async def start(self) -> None:
        """Subscribe in the background; returns at once (the hub retries until Redis is up)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tidings-live-hub")

    async def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the subscription is up, at most ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Cancel the subscription task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._subscribed.clear()

    def dispatch(self, data: bytes) -> None:
        """Hand one published batch to the listeners of its users."""
        try:
            batch = decode_live_batch(data)
        except ValueError:
            log.warning("ignored a malformed live message (%d bytes)", len(data))
            return
        by_user: defaultdict[str, list[InboxEntry]] = defaultdict(list)
        for entry in batch.entries:
            if entry.user_id in self._listeners:
                by_user[entry.user_id].append(entry)
        for user_id, entries in by_user.items():
            for listener in tuple(self._listeners.get(user_id, ())):
                listener.on_entries(entries)
        for notification in batch.broadcasts:
            for listener in self._all_listeners():
                listener.on_broadcast(notification)

    def _all_listeners(self) -> list[LiveListener]:
        return [listener for group in self._listeners.values() for listener in group]

    async def _run(self) -> None:
        """Subscribe, and resubscribe after every loss: one warning per outage, one line
        when it ends (the tries in between are logged at debug level)."""
        while True:
            try:
                await self._listen()
                error: BaseException = ConnectionError("the subscription ended")
            except (RedisError, OSError) as failure:
                error = failure
            self._subscribed.clear()
            await asyncio.sleep(self._outage.failed(error))  # reconnect backoff

    async def _listen(self) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self._channel)
            self._subscribed.set()
            self._outage.recovered()
            for listener in self._all_listeners():
                listener.on_resync()
            async for message in pubsub.listen():
                if message["type"] == "message":
                    self.dispatch(message["data"])
                    # Messages already buffered are read without suspending: let the
                    # connections write this batch before the next one is queued.
                    await asyncio.sleep(0)
