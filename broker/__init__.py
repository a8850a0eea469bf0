"""Signals between processes and short-lived shared state, behind one port (``port.py``).

:func:`open_broker` picks the adapter from ``TIDINGS_REDIS_URL``'s scheme: ``memory://`` for
one process without Redis (:mod:`broker.memory`), anything else for Redis
(:mod:`broker.redis`).
"""

from broker.memory import MemoryBroker
from broker.port import Broker, Subscription
from broker.redis import RedisBroker
from foundation.settings import Settings

MEMORY_SCHEME = "memory"


def in_one_process(settings: Settings) -> bool:
    """Whether ``settings`` keep signals inside one process (``memory://``)."""
    return settings.redis_url.partition("://")[0].lower() == MEMORY_SCHEME


def open_broker(settings: Settings) -> Broker:
    """The broker ``settings.redis_url`` names; the caller closes it."""
    if in_one_process(settings):
        return MemoryBroker()
    return RedisBroker(settings.redis_url)


__all__ = [
    "Broker",
    "MemoryBroker",
    "RedisBroker",
    "Subscription",
    "in_one_process",
    "open_broker",
]
