"""A delivery node: what one process serving ``/ws`` and REST holds, built once at startup.

The lifespan builds one :class:`DeliveryNode` and keeps it at ``app.state.delivery_node``;
the endpoints take it from there (as ``node``).
"""

from dataclasses import dataclass

import redis.asyncio as aioredis

from delivery.auth import TokenVerifier
from delivery.hub import LiveHub
from delivery.metrics import DeliveryMetrics
from delivery.tickets import TicketStore
from foundation.settings import Settings
from outbox.port import OutboxStore


@dataclass(frozen=True)
class DeliveryNode:
    """The node's settings, store, Redis, live hub, token verifier, tickets and metrics."""

    settings: Settings
    store: OutboxStore
    redis: aioredis.Redis
    hub: LiveHub
    verifier: TokenVerifier
    tickets: TicketStore
    metrics: DeliveryMetrics
