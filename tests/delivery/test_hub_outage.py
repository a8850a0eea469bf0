"""The live hub through Redis outages: one warning per outage, one line on recovery."""

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from broker import RedisBroker
from delivery.hub import LiveHub
from tests.delivery.helpers import until
from tests.services import PrivateRedis, private_redis

TRIES = 4


@pytest.fixture
async def outage_server() -> AsyncIterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Every record of a failed or lost subscription, whatever its level."""
    return [
        r
        for r in caplog.records
        if r.name == "delivery.hub"
        and r.levelno < logging.ERROR
        and "available again" not in r.message
    ]


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "delivery.hub" and r.levelno == level
    ]


async def test_one_warning_per_outage_and_one_line_on_recovery(
    outage_server: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="delivery.hub")
    client = RedisBroker(outage_server.url)
    hub = LiveHub(client)
    await hub.start()
    try:
        for outage in (1, 2):
            assert await hub.wait_subscribed(10)
            caplog.clear()
            outage_server.stop()
            # Several reconnect tries fail during the outage.
            await until(lambda: _at_least(caplog, TRIES), 10, f"{TRIES} failed tries")
            assert not hub.subscribed
            warnings = lines(caplog, logging.WARNING)
            assert len(warnings) == 1, warnings
            assert "redis (live subscription) unavailable" in warnings[0]
            assert "redis://" not in warnings[0]  # settings URLs are never logged

            await asyncio.to_thread(outage_server.start)
            assert await hub.wait_subscribed(10), f"not resubscribed after outage {outage}"
            recovered = lines(caplog, logging.INFO)
            assert len(recovered) == 1 and "available again" in recovered[0], recovered
            assert len(lines(caplog, logging.WARNING)) == 1
    finally:
        await hub.stop()
        await client.close()


async def _at_least(caplog: pytest.LogCaptureFixture, count: int) -> bool:
    return len(failures(caplog)) >= count
