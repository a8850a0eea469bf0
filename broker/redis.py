"""The Redis broker: pub/sub for signals, keys with expiry for state (any number of processes).

Connection failures become ``SignalUnavailable``. A subscription reads with a timeout so that
the client's health-check ``PING`` goes out on an idle connection and a dead one surfaces as
an error instead of a silent wait.
"""

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Final

import redis.asyncio as aioredis
from limits.aio.storage import RedisStorage, Storage
from redis.exceptions import RedisError

from foundation.errors import SignalUnavailable

TIMEOUT_SECONDS: Final = 2.0
IDLE_SECONDS: Final = 15.0
RATE_LIMIT_PREFIX: Final = "tidings:limits"


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as error:
        raise SignalUnavailable(f"redis unavailable: {type(error).__name__}") from error


class RedisSubscription:
    """A pub/sub subscription on a connection of its own."""

    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            with _translated():
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=IDLE_SECONDS
                )
            if message is not None and message["type"] == "message":
                yield message["channel"].decode(), message["data"]


class RedisBroker:
    """The broker on one Redis server (``redis://``, ``rediss://`` or ``unix://`` URL)."""

    spans_processes: Final = True

    def __init__(self, url: str) -> None:
        self._url = url
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            socket_keepalive=True,
        )

    async def publish(
        self, channel: str, messages: Sequence[bytes], *, count: tuple[str, int] | None = None
    ) -> None:
        with _translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.publish(channel, message)
                if count is not None and count[1]:
                    pipe.incrby(*count)
                await pipe.execute()

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Sequence[str]) -> AsyncIterator[RedisSubscription]:
        # A client of its own without a socket timeout: an idle subscription is normal.
        client: aioredis.Redis = aioredis.Redis.from_url(
            self._url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_keepalive=True,
            health_check_interval=IDLE_SECONDS,
        )
        try:
            async with client.pubsub() as pubsub:
                with _translated():
                    await pubsub.subscribe(*channels)
                yield RedisSubscription(pubsub)
        finally:
            await client.aclose()

    async def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        with _translated():
            await self.redis.set(key, value, px=max(1, round(ttl_seconds * 1000)))

    async def take(self, key: str) -> bytes | None:
        with _translated():
            value: bytes | None = await self.redis.getdel(key)
        return value

    async def delete(self, key: str) -> None:
        with _translated():
            await self.redis.delete(key)

    async def values(self, prefix: str) -> list[bytes]:
        with _translated():
            keys = [key async for key in self.redis.scan_iter(match=prefix + "*")]
            found = await self.redis.mget(keys) if keys else []
        return [value for value in found if value is not None]

    async def add(self, key: str, amount: int) -> int:
        with _translated():
            return int(await self.redis.incrby(key, amount))

    async def counter(self, key: str) -> int:
        with _translated():
            return int(await self.redis.get(key) or 0)

    async def ping(self) -> None:
        with _translated():
            await self.redis.ping()

    def rate_limit_storage(self) -> Storage:
        shared: dict[str, Any] = {"connection_pool": self.redis.connection_pool}
        return RedisStorage(
            "async+" + self._url,
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix=RATE_LIMIT_PREFIX,
            **shared,
        )

    async def close(self) -> None:
        await self.redis.aclose()
