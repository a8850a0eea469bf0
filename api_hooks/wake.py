"""The wake-up the host sends routing workers after a commit that wrote records."""

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from foundation.constants import WAKE_CHANNEL

log = logging.getLogger(__name__)


async def wake(redis: Redis) -> None:
    """Best-effort: tell routing workers that records were committed. Never raises.

    Call it after the transaction that wrote the records has committed. A lost wake-up only
    delays routing until the worker's next sweep. Redis errors are logged at debug level.
    """
    try:
        await redis.publish(WAKE_CHANNEL, b"")
    except (RedisError, OSError) as error:
        log.debug("wake-up not sent: %s", type(error).__name__)
