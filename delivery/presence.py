"""Each delivery node reports its connection count to Redis, for ``tidings status``.

The key expires unless refreshed, so a node that dies stops counting within ``ttl`` seconds.
"""

import asyncio
import logging
import os
import secrets
import socket

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from delivery.hub import LiveHub
from foundation.constants import NODE_CONNECTIONS_PREFIX

log = logging.getLogger(__name__)

REPORT_SECONDS = 5.0


def node_key() -> str:
    """This process's key: the prefix, then ``hostname:pid:random``."""
    return f"{NODE_CONNECTIONS_PREFIX}{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


async def report_connections(
    redis: aioredis.Redis, hub: LiveHub, key: str, *, every: float = REPORT_SECONDS
) -> None:
    """Write the hub's connection count under ``key`` every ``every`` seconds, until
    cancelled; then delete the key. Redis errors are logged and retried at the next round."""
    try:
        while True:
            try:
                await redis.set(key, hub.connection_count, ex=int(every * 3))
            except (RedisError, OSError) as error:
                log.debug("could not report connections (%s)", type(error).__name__)
            await asyncio.sleep(every)  # the report period
    finally:
        try:
            await redis.delete(key)
        except (RedisError, OSError):
            pass  # the key expires on its own
