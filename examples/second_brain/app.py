"""The example host application: its API, the page, and tidings' delivery routes mounted in.

The app is also a tidings delivery node (``/ws``, ``/notifications``, ``/ws/ticket``,
``/healthz``...), which is how a host application serves notifications without another
process. It does not route: run the worker beside it (``tidings worker``, or ``examples.demo``
which runs both in one process).
"""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from delivery.app import tidings_router
from delivery.node import open_node
from delivery.responses import JsonResponse, error_response, install_error_handlers
from examples.second_brain import api
from examples.second_brain.demo_data import DEMO_FAMILY, DEMO_USERS
from examples.second_brain.domain import DomainError
from examples.second_brain.repository import open_repository
from foundation.settings import Settings

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
# The JavaScript client, built (clients/js/dist is committed, so no build step is needed).
SDK_DIR: Final = Path(__file__).resolve().parents[2] / "clients" / "js" / "dist"


def create_app(settings: Settings) -> FastAPI:
    """The application for ``settings``; its store must already be migrated.

    With ``settings.demo`` the demo users are seeded at startup and ``POST /demo/token``
    signs tokens for them.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_node(settings) as node:
            repository = open_repository(settings)
            try:
                if settings.demo:
                    await repository.seed(DEMO_USERS, DEMO_FAMILY)
                app.state.delivery_node = node
                app.state.repository = repository
                yield
            finally:
                await repository.close()

    app = FastAPI(title="Second Brain", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)

    @app.exception_handler(DomainError)
    async def refused(_request: Request, error: DomainError) -> JsonResponse:
        return error_response(error.status, error.code, error.message)

    app.include_router(tidings_router())
    app.include_router(api.router)
    if settings.demo:
        app.include_router(api.demo_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/sdk", StaticFiles(directory=SDK_DIR), name="sdk")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    return app
