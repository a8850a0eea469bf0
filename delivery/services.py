"""What one delivery node holds: built once at startup and passed to the endpoints."""

from dataclasses import dataclass

import redis.asyncio as aioredis

from delivery.auth import TokenVerifier
from delivery.hub import LiveHub
from delivery.metrics import DeliveryMetrics
from delivery.tickets import TicketStore
from outbox.store import OutboxStore
from tidings.settings import Settings


@dataclass(frozen=True)
class Services:
    """The node's settings, store, Redis, live hub, verifier, tickets and metrics."""

    settings: Settings
    store: OutboxStore
    redis: aioredis.Redis
    hub: LiveHub
    verifier: TokenVerifier
    tickets: TicketStore
    metrics: DeliveryMetrics
