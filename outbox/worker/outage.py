"""Dependencies that come and go: one warning per outage, one line on recovery."""

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from outbox.retry import backoff_seconds

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 2.0
REDIS_ERRORS = (RedisError, OSError)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Outage:
    """Logs a dependency's failures once per outage, and its recovery once."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, error: BaseException) -> float:
        """Record a failure; return how long to wait before the next try."""
        if self.failures == 0:
            log.warning("%s unavailable (%s); retrying", self.what, describe(error))
        else:
            log.debug("%s still unavailable (%s)", self.what, describe(error))
        self.failures += 1
        return backoff_seconds(self.failures - 1, base_seconds=0.1, max_seconds=5.0)

    def recovered(self) -> None:
        if self.failures:
            log.info("%s available again after %d failed tries", self.what, self.failures)
            self.failures = 0


def redis_client(url: str) -> Redis:
    """A Redis client that fails fast instead of hanging when Redis is unreachable."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_keepalive=True,
    )
    return client
