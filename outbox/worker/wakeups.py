"""What wakes the sweep at once: the hosts' wake-up messages, and the store's own commits.

Hosts publish a wake-up after a commit that wrote records. A store that offers a
:class:`~outbox.port.CommitWatch` (the embedded store) is also asked whether anything was
committed: every millisecond for a second after the last commit seen, every
``IDLE_POLL_SECONDS`` otherwise. A host on such a store therefore sends a wake-up only after
a quiet spell (``WAKE_QUIET_SECONDS``), when the watch may be polling slowly; while commits
keep coming the watch finds them within a millisecond and costs the host nothing.
"""

import asyncio
from typing import Final, NoReturn

from broker import Broker
from foundation.constants import COMMIT_WATCH_HOT_SECONDS, WAKE_CHANNEL
from foundation.errors import SignalUnavailable
from outbox.port import CommitWatch
from outbox.worker.outage import Outage

HOT_POLL_SECONDS: Final = 0.001
IDLE_POLL_SECONDS: Final = 0.010


async def _relay_wakes(broker: Broker, wake: asyncio.Event, outage: Outage) -> NoReturn:
    async with broker.subscribe([WAKE_CHANNEL]) as subscription:
        outage.recovered()
        wake.set()  # wake-ups sent while unsubscribed are lost: look now
        async for _ in subscription:
            wake.set()
    raise SignalUnavailable("the wake-up subscription ended")


async def listen_for_wakes(broker: Broker, wake: asyncio.Event) -> None:
    """Set ``wake`` on every wake-up message, forever, subscribing again with backoff."""
    outage = Outage("redis (wake-ups)")
    while True:
        try:
            await _relay_wakes(broker, wake, outage)
        except SignalUnavailable as error:
            delay = outage.failed(error)
        await asyncio.sleep(delay)


def poll_interval(now: float, hot_until: float) -> float:
    """How long the watch waits before it asks again."""
    return HOT_POLL_SECONDS if now < hot_until else IDLE_POLL_SECONDS


async def watch_commits(watch: CommitWatch, wake: asyncio.Event) -> NoReturn:
    """Set ``wake`` whenever ``watch`` reports a commit, forever (see the module docstring).

    The worker's own writes count too, so each drain that wrote is followed by one look that
    finds nothing; that costs less than missing a host's commit made during the drain.
    """
    loop = asyncio.get_running_loop()
    hot_until = loop.time() + COMMIT_WATCH_HOT_SECONDS
    while True:
        if watch.changed():
            wake.set()
            hot_until = loop.time() + COMMIT_WATCH_HOT_SECONDS
        await asyncio.sleep(poll_interval(loop.time(), hot_until))
