"""The delivery service as a FastAPI app, standalone or inside the host application.

Standalone: ``create_app(settings)`` (what ``tidings serve`` runs). Inside a host app, use
``tidings.Tidings(settings).mount(app)``, which installs the same routes, error handlers and
log redaction around the same node (:func:`delivery.node.open_node`).
"""

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI

from delivery import probes, rest, websocket
from delivery.auth import RevocationCheck
from delivery.node import open_node
from delivery.responses import install_error_handlers
from foundation.settings import Settings


def tidings_router() -> APIRouter:
    """Every route of the service: ``/ws``, the REST API and the probes."""
    router = APIRouter()
    router.include_router(websocket.router)
    router.include_router(rest.router)
    router.include_router(probes.router)
    return router


def create_app(settings: Settings, *, revocation_check: RevocationCheck | None = None) -> FastAPI:
    """The standalone service."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_node(settings, revocation_check=revocation_check) as node:
            app.state.delivery_node = node
            yield

    app = FastAPI(title="tidings", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.include_router(tidings_router())
    return app
