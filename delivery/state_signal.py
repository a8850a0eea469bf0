"""Publishing the changes a delivery node appends (marks), as the worker publishes entries.

Like every live signal this is best effort: a device that misses it finds the change in the
store (a later entry shows the gap, or a resync after the node's subscription comes back).
"""

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from foundation.constants import LIVE_CHANNEL
from outbox.live_wire import encode_live_messages
from outbox.stream import StreamChange

log = logging.getLogger(__name__)


async def publish_changes(redis: aioredis.Redis, changes: Sequence[StreamChange]) -> bool:
    """Publish ``changes`` on ``LIVE_CHANNEL`` after their commit; never raises.

    Returns whether they went out; Redis errors are logged (the error's type only).
    """
    try:
        for message in encode_live_messages([], [], stream=changes):
            await redis.publish(LIVE_CHANNEL, message)
    except (RedisError, OSError) as error:
        log.warning(
            "a state change was not published (%s); devices read it from the store",
            type(error).__name__,
        )
        return False
    return True
