"""Per-user request rates, shared by every node through Redis (the ``limits`` package).

Three budgets, each per authenticated user and counted over a moving window on all nodes
together: REST requests, ``POST /ws/ticket``, and new WebSocket connections. A request over
its budget is refused (REST: 429 ``rate_limited`` with ``Retry-After``; WebSocket: close 4429)
before it costs anything else. When Redis does not answer, requests are let through (the
outage is logged once, and its end): availability wins over the limit while it lasts.
"""

import logging
import math
import time
from enum import StrEnum

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from broker import Broker
from foundation.settings import Settings

log = logging.getLogger(__name__)


class Budget(StrEnum):
    """What a request spends."""

    REST = "rest"
    TICKET = "ticket"
    CONNECT = "connect"


class RateLimits:
    """The node's budgets over one storage (Redis, shared by every node)."""

    def __init__(self, storage: Storage, rates: dict[Budget, RateLimitItem]) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._rates = rates
        self._failing = False

    @classmethod
    def from_settings(cls, settings: Settings, broker: Broker) -> "RateLimits":
        """Budgets from ``TIDINGS_*_RATE_LIMIT``, counted where ``broker`` keeps state (on all
        nodes together with Redis)."""
        storage = broker.rate_limit_storage()
        rates = {
            Budget.REST: parse(settings.rest_rate_limit),
            Budget.TICKET: parse(settings.ticket_rate_limit),
            Budget.CONNECT: parse(settings.connect_rate_limit),
        }
        return cls(storage, rates)

    async def spend(self, budget: Budget, user_id: str) -> float | None:
        """Spend one unit of ``user_id``'s ``budget``; ``None`` when allowed, else the seconds
        until the next unit is available (at least 1)."""
        rate = self._rates[budget]
        try:
            if await self._limiter.hit(rate, budget.value, user_id):
                self._recovered()
                return None
            stats = await self._limiter.get_window_stats(rate, budget.value, user_id)
        except StorageError as error:
            self._failed(error)
            return None
        self._recovered()
        return float(max(1, math.ceil(stats.reset_time - time.time())))

    def _failed(self, error: StorageError) -> None:
        if not self._failing:
            cause = type(error.storage_error).__name__
            log.warning("rate limits not enforced: redis unavailable (%s)", cause)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.info("rate limits enforced again: redis available")
        self._failing = False
