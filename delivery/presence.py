"""Each delivery node reports its connection count to the broker, for ``tidings status``.

The key expires unless refreshed, so a node that dies stops counting within ``ttl`` seconds.
"""

import asyncio
import logging
import os
import secrets
import socket

from broker import Broker
from delivery.hub import LiveHub
from foundation.constants import NODE_CONNECTIONS_PREFIX
from foundation.errors import SignalUnavailable

log = logging.getLogger(__name__)

REPORT_SECONDS = 5.0


def node_key() -> str:
    """This process's key: the prefix, then ``hostname:pid:random``."""
    return f"{NODE_CONNECTIONS_PREFIX}{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


async def report_connections(
    broker: Broker, hub: LiveHub, key: str, *, every: float = REPORT_SECONDS
) -> None:
    """Write the hub's connection count under ``key`` every ``every`` seconds, until
    cancelled; then delete the key. Broker errors are logged and retried at the next round."""
    try:
        while True:
            try:
                await broker.put(key, b"%d" % hub.connection_count, every * 3)
            except SignalUnavailable as error:
                log.debug("could not report connections (%s)", error)
            await asyncio.sleep(every)  # the report period
    finally:
        try:
            await broker.delete(key)
        except SignalUnavailable:
            pass  # the key expires on its own
