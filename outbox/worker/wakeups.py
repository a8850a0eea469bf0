"""The wake subscriber: wakes the sweep at once when a host commits records."""

import asyncio
from typing import NoReturn

from broker import Broker
from foundation.constants import WAKE_CHANNEL
from foundation.errors import SignalUnavailable
from outbox.worker.outage import Outage


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
