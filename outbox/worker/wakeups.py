"""The wake subscriber: wakes the sweep at once when a host commits records."""

import asyncio
from typing import NoReturn

from redis.asyncio import Redis

from foundation.constants import WAKE_CHANNEL
from outbox.worker.outage import REDIS_ERRORS, REDIS_TIMEOUT_SECONDS, Outage

WAKE_IDLE_SECONDS = 15.0


async def _relay_wakes(client: Redis, wake: asyncio.Event, outage: Outage) -> NoReturn:
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(WAKE_CHANNEL)
        outage.recovered()
        wake.set()  # wake-ups sent while unsubscribed are lost: look now
        while True:
            # The timeout bounds each read so that the client's health-check PING goes out
            # on an idle connection, which surfaces a dead one as an error.
            if await pubsub.get_message(timeout=WAKE_IDLE_SECONDS) is not None:
                wake.set()


async def listen_for_wakes(redis_url: str, wake: asyncio.Event) -> None:
    """Set ``wake`` on every wake-up message, forever, reconnecting with backoff."""
    outage = Outage("redis (wake-ups)")
    while True:
        # No socket_timeout: an idle subscription is normal, not an error.
        client: Redis = Redis.from_url(
            redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_keepalive=True,
            health_check_interval=WAKE_IDLE_SECONDS,
        )
        try:
            await _relay_wakes(client, wake, outage)
        except REDIS_ERRORS as error:
            delay = outage.failed(error)
        finally:
            await client.aclose()
        await asyncio.sleep(delay)
