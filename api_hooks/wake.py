"""The wake-up the host sends routing workers after a commit that wrote records.

A wake-up carries nothing: it only says "look now". So many commits in a burst need one
wake-up between them, not one each. :class:`Waker` coalesces: at most one is in flight, and
the commits that land meanwhile are covered by a single one sent right after it. A busy host
then sends fewer wake-ups than it commits, and the worker, woken less often, finds bigger
batches.

On a store whose workers can watch its commits themselves (the embedded store), a
:class:`Waker` with ``quiet_seconds`` goes further when its host is busy, committing at
least every ``HOST_BUSY_GAP_SECONDS``: it sends a wake-up that also asks the workers to watch
the store closely (``WAKE_AND_WATCH``: every millisecond, for ``COMMIT_WATCH_HOT_SECONDS``),
then leaves out the wake-ups of its busy commits for ``quiet_seconds``, a margin inside that
time. The workers find those commits by themselves, and the host, whose wake-ups cost it more
CPU than its emits, spends nothing on them. A host that commits now and then wakes the workers
after each commit as before, so an idle worker does not poll fast.
"""

import asyncio
import logging

from broker import Broker
from foundation.constants import HOST_BUSY_GAP_SECONDS, WAKE_AND_WATCH, WAKE_CHANNEL
from foundation.errors import SignalUnavailable

log = logging.getLogger(__name__)


async def wake(broker: Broker, *, watch: bool = False) -> None:
    """Best-effort: tell routing workers that records were committed. Never raises.

    Call it after the transaction that wrote the records has committed. A lost wake-up only
    delays routing until the worker's next sweep. With ``watch`` the workers also watch the
    store's commits closely for a while (see the module docstring). Broker errors are logged
    at debug level.
    """
    try:
        await broker.publish(WAKE_CHANNEL, [WAKE_AND_WATCH if watch else b""])
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
        self._last_poke: float | None = None
        self._watch_asked: float | None = None  # when a poke last asked the workers to watch
        self._watch_due = False
        self._requested = 0  # calls to wake so far
        self._covered = 0  # calls a published wake-up went out after
        self._published = asyncio.Condition()
        self._sending: asyncio.Task[None] | None = None

    def poke(self, now: float | None = None) -> bool:
        """Have the workers woken about every commit made before this call, without waiting:
        the wake-up goes out from a task of its own (shared with the calls made meanwhile).

        ``now`` is a monotonic time in seconds. With it and ``quiet_seconds``, a poke less than
        ``HOST_BUSY_GAP_SECONDS`` after the previous one is busy: the first busy poke asks for
        a wake-up that also has the workers watch the store, and the busy pokes of the next
        ``quiet_seconds`` ask for none and return ``False`` (see the module docstring).
        """
        if now is not None and self.quiet_seconds > 0:
            busy = self._last_poke is not None and now - self._last_poke < HOST_BUSY_GAP_SECONDS
            self._last_poke = now
            if busy:
                if self._watch_asked is not None and now - self._watch_asked < self.quiet_seconds:
                    return False
                self._watch_asked = now
                self._watch_due = True
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
                watch, self._watch_due = self._watch_due, False
                await wake(self.broker, watch=watch)
                self.sent += 1
                self._covered = upto
                async with self._published:
                    self._published.notify_all()
        finally:
            if self._covered < self._requested:  # ended by an error: release the waiters
                self._covered = self._requested
                async with self._published:
                    self._published.notify_all()
