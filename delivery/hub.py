"""One Redis subscription per delivery node, fanned out to the node's connections.

Redis pub/sub is only a signal: the worker publishes each routed batch once on
``LIVE_CHANNEL`` and every node keeps the entries of users it holds. Whatever a node misses
(Redis down, its subscription dropped) it recovers from the store: after every
(re)subscription the hub tells each connection to resync, and each connection reads its
user's inbox after the last seq it sent. Clients never have to reconnect for that.

The same subscription carries revocations: a user id published on ``REVOKE_CHANNEL`` closes
that user's connections on every node with 4403 (:func:`delivery.revocation.revoke`).
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from broker import Broker
from delivery.auth import Principal
from foundation.constants import LIVE_CHANNEL, REVOKE_CHANNEL
from foundation.errors import SignalUnavailable
from foundation.outage import Outage
from outbox.live_wire import LiveBatch, decode_live_batch
from outbox.records import InboxEntry, Notification
from outbox.stream import StreamItem

log = logging.getLogger(__name__)


class LiveListener(Protocol):
    """A connection as the hub sees it. Callbacks must not block or await."""

    @property
    def user_id(self) -> str: ...

    @property
    def principal(self) -> Principal:
        """The user as its latest token says (for the periodic revocation check)."""

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        """New entries of this listener's user, in seq order."""

    def on_broadcast(self, notification: Notification) -> None:
        """A best-effort broadcast to everyone connected."""

    def on_stream(self, items: Sequence[StreamItem]) -> None:
        """New stream entries (protocol v2) of this listener's user; called only for
        listeners whose ``wants_stream`` attribute is true."""

    def on_resync(self) -> None:
        """Live signals may have been missed: read the store after the last seq sent."""

    def shut_down(self) -> None:
        """The node is stopping: close with 1001."""

    def on_revoked(self) -> None:
        """The user's tokens were revoked: close with 4403."""


def _wants_stream(listener: LiveListener) -> bool:
    return getattr(listener, "wants_stream", False) is True


class LiveHub:
    """Keeps one subscription alive and dispatches batches to local listeners."""

    def __init__(self, broker: Broker, *, channel: str = LIVE_CHANNEL) -> None:
        self._broker = broker
        self._channel = channel
        self._outage = Outage("redis (live subscription)", logger=log, base_seconds=0.05)
        # Each user's listeners as a tuple (most users have one: a set costs 216 bytes more),
        # replaced on every change, so that a dispatch can iterate it while listeners leave.
        self._listeners: dict[str, tuple[LiveListener, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._stream_listeners = 0  # listeners with ``wants_stream`` (protocol v2)
        # Decides which of a user's connections a revocation closes (set by the node).
        self.on_revocation: Callable[[str], Coroutine[Any, Any, None]] | None = None
        self._revocations: set[asyncio.Task[None]] = set()
        self._after_dispatch: list[Callable[[], None]] | None = None  # set while dispatching

    @property
    def subscribed(self) -> bool:
        """True while the Redis subscription is up (readiness)."""
        return self._subscribed.is_set()

    def add(self, listener: LiveListener) -> None:
        """Start dispatching to ``listener``; call before reading the store for it."""
        listeners = self._listeners.get(listener.user_id, ())
        if listener in listeners:
            return
        if _wants_stream(listener):
            self._stream_listeners += 1
        self._listeners[listener.user_id] = (*listeners, listener)

    def remove(self, listener: LiveListener) -> None:
        """Stop dispatching to ``listener``; unknown listeners are ignored."""
        listeners = self._listeners.get(listener.user_id, ())
        if listener not in listeners:
            return
        if _wants_stream(listener):
            self._stream_listeners -= 1
        others = tuple(other for other in listeners if other is not listener)
        if others:
            self._listeners[listener.user_id] = others
        else:
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

    def revoke(self, user_id: str) -> None:
        """A revocation of ``user_id`` arrived: hand it to :attr:`on_revocation` (a task of
        the hub's own), or, without one, close every listener of the user."""
        if self.on_revocation is None:
            for listener in self.listeners_of(user_id):
                listener.on_revoked()
            return
        task = asyncio.create_task(self.on_revocation(user_id))
        self._revocations.add(task)
        task.add_done_callback(self._revocations.discard)

    def listeners_of(self, user_id: str) -> tuple[LiveListener, ...]:
        """The listeners this node holds for ``user_id`` now."""
        return self._listeners.get(user_id, ())

    def listeners(self) -> list[LiveListener]:
        """Every listener this node holds now."""
        return self._all_listeners()

    def after_dispatch(self, callback: Callable[[], None]) -> bool:
        """While a batch is being dispatched, run ``callback`` once every listener has had
        its part (True); outside a dispatch, do nothing (False).

        Listeners hold the frames a batch gives them and write them then: the writes of one
        batch go out back to back, rather than between the work of building the others."""
        if self._after_dispatch is None:
            return False
        self._after_dispatch.append(callback)
        return True

    def dispatch(self, data: bytes) -> None:
        """Hand one published batch to the listeners of its users."""
        try:
            batch = decode_live_batch(data)
        except ValueError:
            log.warning("ignored a malformed live message (%d bytes)", len(data))
            return
        self._after_dispatch = []
        try:
            self._hand_out(batch)
        finally:
            callbacks, self._after_dispatch = self._after_dispatch, None
            for callback in callbacks:
                callback()

    def _hand_out(self, batch: LiveBatch) -> None:
        # Once per entry of every batch: plain dict operations, no defaultdict lookups.
        listeners = self._listeners
        by_user: dict[str, list[InboxEntry]] = {}
        for entry in batch.entries:
            user_id = entry.user_id
            if user_id in listeners:
                held = by_user.get(user_id)
                if held is None:
                    by_user[user_id] = [entry]
                else:
                    held.append(entry)
        for user_id, entries in by_user.items():
            for listener in listeners.get(user_id, ()):
                listener.on_entries(entries)
        for notification in batch.broadcasts:
            for listener in self._all_listeners():
                listener.on_broadcast(notification)
        if self._stream_listeners and batch.has_stream:
            self._dispatch_stream(batch)

    def _dispatch_stream(self, batch: LiveBatch) -> None:
        """Hand the batch's stream entries to the v2 listeners of their users."""
        try:
            items = batch.stream()
        except ValueError:
            log.warning("ignored the malformed stream of a live message")
            return
        by_user: defaultdict[str, list[StreamItem]] = defaultdict(list)
        for item in items:
            if item.user_id in self._listeners:
                by_user[item.user_id].append(item)
        for user_id, group in by_user.items():
            for listener in self._listeners.get(user_id, ()):
                if _wants_stream(listener):
                    listener.on_stream(group)

    def _all_listeners(self) -> list[LiveListener]:
        return [listener for group in self._listeners.values() for listener in group]

    async def _run(self) -> None:
        """Subscribe, and resubscribe after every loss: one warning per outage, one line
        when it ends (the tries in between are logged at debug level)."""
        while True:
            try:
                await self._listen()
                error: BaseException = ConnectionError("the subscription ended")
            except SignalUnavailable as failure:
                error = failure
            self._subscribed.clear()
            await asyncio.sleep(self._outage.failed(error))  # reconnect backoff

    async def _listen(self) -> None:
        async with self._broker.subscribe([self._channel, REVOKE_CHANNEL]) as subscription:
            self._subscribed.set()
            self._outage.recovered()
            for listener in self._all_listeners():
                listener.on_resync()
            async for channel, data in subscription:
                if channel == REVOKE_CHANNEL:
                    self.revoke(data.decode(errors="replace"))
                else:
                    self.dispatch(data)
                    # Messages already buffered are read without suspending: let the
                    # connections write this batch before the next one is queued.
                    await asyncio.sleep(0)
