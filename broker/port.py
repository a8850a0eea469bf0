"""The broker port: signals between processes, and short-lived shared state.

tidings keeps every record in the store; the broker only carries what may be lost or
rebuilt: live signals (routed batches, wake-ups, revocations), single-use tickets, counters
for operators, node presence and the rate limits' windows. Two adapters implement it and pass
one contract suite (``tests/broker``): ``redis`` (``redis://``, ``rediss://``, ``unix://``:
any number of processes and nodes) and ``memory`` (``memory://``: one process only, no
Redis at all, as Centrifugo's memory engine and broadcaster's memory backend do).

Every method may raise :class:`foundation.errors.SignalUnavailable` when the broker cannot be
reached; callers decide what that means (the store never depends on it).
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from limits.aio.storage import Storage


class Subscription(Protocol):
    """Messages published on the subscribed channels after the subscription started."""

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        """``(channel, data)`` pairs, in publishing order per channel, until the block ends.

        Raises ``SignalUnavailable`` when the connection is lost (messages published
        meanwhile are lost: subscribe again, and recover from the store).
        """


class Broker(Protocol):
    """One broker, shared by everything one process runs (node, worker, host hooks)."""

    @property
    def spans_processes(self) -> bool:
        """Whether other processes see what this one publishes and stores (Redis: yes)."""

    async def publish(
        self, channel: str, messages: Sequence[bytes], *, count: tuple[str, int] | None = None
    ) -> None:
        """Publish ``messages`` on ``channel`` in order; with ``count`` ``(key, n)``, add ``n``
        to that counter in the same round trip."""

    def subscribe(self, channels: Sequence[str]) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to ``channels`` for the block; the subscription is up when it yields."""

    async def put(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds`` (replacing what was there)."""

    async def take(self, key: str) -> bytes | None:
        """The value under ``key``, deleted in the same step (at most one caller gets it)."""

    async def delete(self, key: str) -> None:
        """Forget ``key``."""

    async def values(self, prefix: str) -> list[bytes]:
        """Every unexpired value whose key starts with ``prefix``."""

    async def add(self, key: str, amount: int) -> int:
        """Add ``amount`` to the counter ``key`` (0 when new); return the new value."""

    async def counter(self, key: str) -> int:
        """The counter ``key``, 0 when it does not exist."""

    async def ping(self) -> None:
        """Return when the broker answers."""

    def rate_limit_storage(self) -> Storage:
        """A storage for the ``limits`` package that counts where this broker keeps state."""

    async def close(self) -> None:
        """Release connections; the broker is unusable afterwards."""
