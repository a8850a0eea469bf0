"""What wakes the sweep at once: the hosts' wake-ups, and, on a store that offers one, a watch
on the store's commits.

Hosts publish a wake-up after a commit that wrote records. On a store with a
:class:`~outbox.port.CommitWatch` (the embedded store), a busy host (see ``api_hooks.wake``)
sends ``WAKE_AND_WATCH`` instead, about every half second, and no wake-up for its other
commits: the worker then asks the store every millisecond, for ``COMMIT_WATCH_HOT_SECONDS``
after each such wake-up, whether anything was committed. Otherwise it asks every
``IDLE_POLL_SECONDS``, a safety net for a lost wake-up that costs an idle worker almost
nothing (each timer wake-up costs about 0.2 ms of CPU on a virtual machine).
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final, NoReturn

from broker import Broker
from foundation.constants import COMMIT_WATCH_HOT_SECONDS, WAKE_AND_WATCH, WAKE_CHANNEL
from foundation.errors import SignalUnavailable
from outbox.port import CommitWatch
from outbox.worker.outage import Outage

HOT_POLL_SECONDS: Final = 0.001
IDLE_POLL_SECONDS: Final = 0.1


async def _relay_wakes(
    broker: Broker, wake: asyncio.Event, outage: Outage, watch: Callable[[], None]
) -> NoReturn:
    async with broker.subscribe([WAKE_CHANNEL]) as subscription:
        outage.recovered()
        wake.set()  # wake-ups sent while unsubscribed are lost: look now
        async for _, message in subscription:
            wake.set()
            if message == WAKE_AND_WATCH:
                watch()
    raise SignalUnavailable("the wake-up subscription ended")


async def listen_for_wakes(
    broker: Broker, wake: asyncio.Event, watch: Callable[[], None] = lambda: None
) -> None:
    """Set ``wake`` on every wake-up message, and call ``watch`` on those that ask for it,
    forever, subscribing again with backoff."""
    outage = Outage("redis (wake-ups)")
    while True:
        try:
            await _relay_wakes(broker, wake, outage, watch)
        except SignalUnavailable as error:
            delay = outage.failed(error)
        await asyncio.sleep(delay)


def poll_interval(now: float, hot_until: float) -> float:
    """How long the watch waits before it asks the store again."""
    return HOT_POLL_SECONDS if now < hot_until else IDLE_POLL_SECONDS


class CommitWatcher:
    """Asks a :class:`CommitWatch` whether anything was committed, and sets ``wake`` if so."""

    def __init__(self, watch: CommitWatch, wake: asyncio.Event) -> None:
        self._watch = watch
        self._wake = wake
        self._hot_until = float("-inf")
        self._heated = asyncio.Event()

    def heat(self) -> None:
        """Ask every millisecond for the next ``COMMIT_WATCH_HOT_SECONDS``, starting now."""
        self._hot_until = asyncio.get_running_loop().time() + COMMIT_WATCH_HOT_SECONDS
        self._heated.set()

    async def run(self) -> NoReturn:
        """Ask forever (see the module docstring). The worker's own writes count too, so a
        drain that wrote is followed by one that finds nothing when the watch is asked
        before the next commit."""
        loop = asyncio.get_running_loop()
        while True:
            if self._watch.changed():
                self._wake.set()
            interval = poll_interval(loop.time(), self._hot_until)
            if interval == HOT_POLL_SECONDS:
                await asyncio.sleep(interval)
                continue
            self._heated.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heated.wait(), interval)
