"""Redis for the worker: a client that fails fast, and the errors that mean an outage.

:class:`~foundation.outage.Outage` (one warning per outage) is shared with the delivery
node; it is re-exported here for the worker's modules.
"""

from redis.asyncio import Redis
from redis.exceptions import RedisError

from foundation.outage import Outage, describe

__all__ = ["REDIS_ERRORS", "REDIS_TIMEOUT_SECONDS", "Outage", "describe", "redis_client"]

REDIS_TIMEOUT_SECONDS = 2.0
REDIS_ERRORS = (RedisError, OSError)


def redis_client(url: str) -> Redis:
    """A Redis client that fails fast instead of hanging when Redis is unreachable."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_keepalive=True,
    )
    return client
