"""The delivery service as a FastAPI app, standalone or inside the host application.

Standalone: ``create_app(settings)`` (what ``tidings serve`` runs). Inside a host app:

    @asynccontextmanager
    async def lifespan(app):
        async with tidings_running(settings, revocation_check=check) as node:
            app.state.delivery_node = node
            yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(tidings_router())
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI

from delivery import probes, rest, rest_v2, websocket
from delivery.auth import RevocationCheck, TokenVerifier
from delivery.hub import LiveHub
from delivery.metrics import DeliveryMetrics
from delivery.node import DeliveryNode
from delivery.presence import node_key, report_connections
from delivery.responses import install_error_handlers
from delivery.tickets import TicketStore
from foundation.settings import Settings
from outbox.stores import open_store

SHUTDOWN_GRACE_SECONDS = 5.0


def tidings_router() -> APIRouter:
    """Every route of the service: ``/ws``, the REST API (v1 and v2) and the probes."""
    router = APIRouter()
    router.include_router(websocket.router)
    router.include_router(rest.router)
    router.include_router(rest_v2.router)
    router.include_router(probes.router)
    return router


@contextlib.asynccontextmanager
async def tidings_running(
    settings: Settings, *, revocation_check: RevocationCheck | None = None
) -> AsyncIterator[DeliveryNode]:
    """Open the store, Redis and the live hub; on exit close every connection with 1001."""
    verifier = TokenVerifier(settings, revocation_check)  # refuses bad auth settings first
    store = await open_store(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    hub = LiveHub(redis)
    node = DeliveryNode(
        settings=settings,
        store=store,
        redis=redis,
        hub=hub,
        verifier=verifier,
        tickets=TicketStore(redis, settings.ticket_ttl_seconds),
        metrics=DeliveryMetrics(),
    )
    await hub.start()
    presence = asyncio.create_task(report_connections(redis, hub, node_key()))
    try:
        yield node
    finally:
        await hub.close_all(SHUTDOWN_GRACE_SECONDS)
        presence.cancel()
        await asyncio.gather(presence, return_exceptions=True)
        await hub.stop()
        await redis.aclose()
        await store.close()


def create_app(settings: Settings, *, revocation_check: RevocationCheck | None = None) -> FastAPI:
    """The standalone service."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with tidings_running(settings, revocation_check=revocation_check) as node:
            app.state.delivery_node = node
            yield

    app = FastAPI(title="tidings", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.include_router(tidings_router())
    return app
