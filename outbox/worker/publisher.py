"""Publishing routed batches on Redis (``LIVE_CHANNEL``) without ever slowing routing down.

Redis pub/sub is only a signal. A subscriber that misses a message (Redis down, slow
consumer, reconnect) finds every entry in the store; a broadcast (``Everyone``) is best-effort
and is simply missed. The messages are encoded in :mod:`outbox.live_wire`'s format.
"""

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Sequence
from typing import NoReturn

from broker import Broker
from foundation.constants import LIVE_CHANNEL, ROUTED_COUNTER_KEY
from foundation.errors import SignalUnavailable
from outbox.live_wire import encode_live_messages
from outbox.records import InboxEntry, Notification
from outbox.retry import backoff_seconds
from outbox.stream import StreamItem

log = logging.getLogger(__name__)

MAX_PENDING_BYTES = 64 * 1024 * 1024
PUBLISH_PIPELINE = 64


async def publish_messages(broker: Broker, messages: Sequence[bytes], entry_count: int) -> None:
    """Publish encoded messages on ``LIVE_CHANNEL`` in order, in one round trip.

    In the same round trip, adds ``entry_count`` to ``ROUTED_COUNTER_KEY`` (the
    ``notifications_routed_total`` metric summed over every worker). ``SignalUnavailable``
    propagates: the caller decides what a failure means (the worker: retry, keep routing).
    """
    await broker.publish(LIVE_CHANNEL, messages, count=(ROUTED_COUNTER_KEY, entry_count))


async def publish_live(
    broker: Broker,
    entries: Sequence[InboxEntry],
    broadcasts: Sequence[Notification],
    stream: Sequence[StreamItem] = (),
) -> int:
    """Encode and publish a routed batch (see :func:`publish_messages`); return the message
    count. ``SignalUnavailable`` propagates."""
    messages = encode_live_messages(entries, broadcasts, stream=stream)
    if messages:
        await publish_messages(broker, messages, len(entries))
    return len(messages)


class LivePublisher:
    """Publishes routed batches on ``LIVE_CHANNEL`` in order, from a task of its own.

    Routing hands batches over with :meth:`submit`, which never waits for Redis. :meth:`run`
    publishes them in order and, when Redis fails, keeps them and tries again with backoff,
    so a subscription that survived a blip of the worker's connection misses nothing. While
    Redis stays down, batches beyond ``max_pending_bytes`` are dropped (and counted): delivery
    recovers them from the store. A failure in the middle of a round trip may publish some
    messages twice; subscribers ignore seqs they already have.
    """

    def __init__(self, broker: Broker, *, max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self._broker = broker
        self._max_pending_bytes = max_pending_bytes
        self._pending: deque[tuple[bytes, int]] = deque()  # (message, entries to count)
        self._pending_bytes = 0
        self._work = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0
        self._failures = 0

    def submit(
        self,
        entries: Sequence[InboxEntry],
        broadcasts: Sequence[Notification],
        stream: Sequence[StreamItem] = (),
    ) -> None:
        """Queue one routed batch (or trim's changes) for publishing; returns at once."""
        messages = encode_live_messages(entries, broadcasts, stream=stream)
        size = sum(map(len, messages))
        if self._pending and self._pending_bytes + size > self._max_pending_bytes:
            if not self.dropped:
                log.warning("live publishing backlog full; dropping batches until Redis is back")
            self.dropped += 1
            return
        counts = [len(entries)] + [0] * (len(messages) - 1)  # the batch is counted once
        self._pending.extend(zip(messages, counts, strict=True))
        self._pending_bytes += size
        self._idle.clear()
        self._work.set()

    async def flush(self, timeout: float) -> bool:
        """Wait until every submitted batch is out, at most ``timeout`` seconds and not at
        all while Redis fails; return whether everything went out."""
        if self._failures:
            return not self._pending
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return not self._pending

    async def run(self) -> NoReturn:
        """Publish submitted batches forever."""
        while True:
            await self._work.wait()
            self._work.clear()
            while self._pending:
                try:
                    await self._send_some()
                except SignalUnavailable as error:
                    await asyncio.sleep(self._failed(error))
            self._idle.set()

    def _failed(self, error: Exception) -> float:
        """Log the first failure of an outage; return the delay before the next try."""
        if not self._failures:
            log.warning("redis (live publishing) unavailable (%s); retrying", error)
        self._failures += 1
        return backoff_seconds(self._failures - 1, base_seconds=0.05, max_seconds=5.0)

    async def _send_some(self) -> None:
        batch = list(itertools.islice(self._pending, PUBLISH_PIPELINE))
        await publish_messages(self._broker, [m for m, _ in batch], sum(n for _, n in batch))
        for message, _ in batch:
            self._pending.popleft()
            self._pending_bytes -= len(message)
        if self._failures:
            log.info("redis (live publishing) available again")
            self._failures = 0
        if self.dropped:
            log.warning("live publishing resumed; %d batches were dropped", self.dropped)
            self.dropped = 0
