"""A delivery node: what one process serving ``/ws`` and REST holds, built once at startup.

:func:`open_node` is the one place a node is built, whatever serves it (the standalone
server, or the host's own FastAPI app through ``tidings.Tidings.mount``). The app keeps the
node at ``app.state.delivery_node``; the endpoints take it from there (as ``node``).
"""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass

from broker import Broker, open_broker
from delivery.auth import RevocationCheck, TokenVerifier, load_revocation_check
from delivery.hub import LiveHub
from delivery.metrics import DeliveryMetrics
from delivery.presence import node_key, report_connections
from delivery.rate_limits import RateLimits
from delivery.revocation import close_revoked, sweep_revocations
from delivery.tickets import TicketStore
from delivery.timers import TimerWheel
from foundation.settings import Settings
from outbox.port import OutboxStore
from outbox.stores import open_store

SHUTDOWN_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class DeliveryNode:
    """The node's settings, store, broker, live hub, token verifier, tickets, metrics,
    per-user rate limits, and the timer wheel of its connections (token expiry, pings)."""

    settings: Settings
    store: OutboxStore
    broker: Broker
    hub: LiveHub
    verifier: TokenVerifier
    tickets: TicketStore
    metrics: DeliveryMetrics
    rate_limits: RateLimits
    timers: TimerWheel


@contextlib.asynccontextmanager
async def open_node(
    settings: Settings,
    *,
    revocation_check: RevocationCheck | None = None,
    broker: Broker | None = None,
) -> AsyncIterator[DeliveryNode]:
    """Open the store, the broker and the live hub; on exit close every connection with 1001.

    ``revocation_check`` defaults to the one ``TIDINGS_REVOCATION_CHECK`` names. ``broker``
    is the process's (shared with a worker or the host's hooks in the same process), which
    the caller closes; without one the node opens its own from ``TIDINGS_REDIS_URL``. Raises
    ``ConfigurationError`` for unusable auth settings or a check that cannot be loaded,
    before anything is opened.
    """
    check = revocation_check or load_revocation_check(settings.revocation_check)
    verifier = TokenVerifier(settings, check)
    store = await open_store(settings)
    own_broker = broker is None
    signals = open_broker(settings) if broker is None else broker
    hub = LiveHub(signals)
    node = DeliveryNode(
        settings=settings,
        store=store,
        broker=signals,
        hub=hub,
        verifier=verifier,
        tickets=TicketStore(signals, settings.ticket_ttl_seconds),
        metrics=DeliveryMetrics(),
        rate_limits=RateLimits.from_settings(settings, signals),
        timers=TimerWheel(),
    )
    hub.on_revocation = functools.partial(close_revoked, hub, verifier)
    await hub.start()
    node.timers.start()
    tasks = [asyncio.create_task(report_connections(signals, hub, node_key()))]
    if verifier.checks_revocation and settings.revocation_interval_seconds > 0:
        sweep = sweep_revocations(hub, verifier, settings.revocation_interval_seconds)
        tasks.append(asyncio.create_task(sweep, name="revocation-sweep"))
    try:
        yield node
    finally:
        await hub.close_all(SHUTDOWN_GRACE_SECONDS)
        await node.timers.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.stop()
        if own_broker:
            await signals.close()
        await store.close()
