"""The wake-up the host sends routing workers after a commit that wrote records.

A wake-up carries nothing: it only says "look now". So many commits in a burst need one
wake-up between them, not one each. :class:`Waker` coalesces: at most one is in flight, and
the commits that land meanwhile are covered by a single one sent right after it. A busy host
then sends fewer wake-ups than it commits, and the worker, woken less often, finds bigger
batches. On a store whose workers watch its commits themselves (the embedded store), a
:class:`Waker` with ``quiet_seconds`` sends one only after a quiet spell.
"""

import asyncio
import logging

from broker import Broker
from foundation.constants import WAKE_CHANNEL
from foundation.errors import SignalUnavailable

log = logging.getLogger(__name__)


async def wake(broker: Broker) -> None:
    """Best-effort: tell routing workers that records were committed. Never raises.

    Call it after the transaction that wrote the records has committed. A lost wake-up only
    delays routing until the worker's next sweep. Broker errors are logged at debug level.
    """
    try:
        await broker.publish(WAKE_CHANNEL, [b""])
    except SignalUnavailable as error:
        log.debug("wake-up not sent: %s", error)


class Waker:
    """Coalesced wake-ups on one broker, for one event loop.

    :meth:`wake` returns once a wake-up published after the call has gone out (or failed: it
    never raises), so a caller that awaited it knows the workers were told about every commit
    it made before the call. However busy the host, each caller waits for at most two.
    """

    def __init__(self, broker: Broker, *, quiet_seconds: float = 0.0) -> None:
        self.broker = broker
        self.quiet_seconds = quiet_seconds
        self.sent = 0  # wake-ups published
        self._last_asked: float | None = None  # when a poke last asked for a wake-up
        self._requested = 0  # calls to wake so far
        self._covered = 0  # calls a published wake-up went out after
        self._published = asyncio.Condition()
        self._sending: asyncio.Task[None] | None = None

    def poke(self, now: float | None = None) -> bool:
        """Have the workers woken about every commit made before this call, without waiting:
        the wake-up goes out from a task of its own (shared with the calls made meanwhile).

        ``now`` is a monotonic time in seconds. With it, a poke less than ``quiet_seconds``
        after the last one that asked for a wake-up asks for none and returns ``False``: that
        wake-up's commit set the workers' commit watch polling every millisecond, and it
        finds this commit by itself.
        """
        if now is not None:
            if self._last_asked is not None and now - self._last_asked < self.quiet_seconds:
                return False
            self._last_asked = now
        self._requested += 1
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send(), name="tidings-wake")
        return True

    async def wake(self) -> None:
        """Wake the workers about every commit made before this call; never raises."""
        self.poke()
        wanted = self._requested
        async with self._published:
            await self._published.wait_for(lambda: self._covered >= wanted)

    async def flush(self) -> None:
        """Return once every :meth:`poke` so far is covered by a wake-up sent (or failed)."""
        if self._sending is not None:
            await asyncio.shield(self._sending)

    async def _send(self) -> None:
        try:
            while self._covered < self._requested:
                upto = self._requested  # every call so far was made before this publish
                await wake(self.broker)
                self.sent += 1
                self._covered = upto
                async with self._published:
                    self._published.notify_all()
        finally:
            if self._covered < self._requested:  # ended by an error: release the waiters
                self._covered = self._requested
                async with self._published:
                    self._published.notify_all()
