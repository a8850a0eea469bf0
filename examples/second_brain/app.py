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
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from delivery.app import tidings_router
from delivery.node import open_node
from delivery.responses import JsonResponse, install_error_handlers
from examples.second_brain import api, api_account, api_family
from examples.second_brain.demo_data import seed_demo
from examples.second_brain.domain import DomainError
from examples.second_brain.ports import Repository
from examples.second_brain.repository import open_repository
from examples.second_brain.sessions import revocation_check
from foundation.settings import Settings

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
# The JavaScript client, built (clients/js/dist is committed, so no build step is needed).
SDK_DIR: Final = Path(__file__).resolve().parents[2] / "clients" / "js" / "dist"


def create_app(settings: Settings) -> FastAPI:
    """The application for ``settings``; its store must already be migrated.

    With ``settings.demo`` the demo data is seeded at startup and ``POST /demo/token``
    signs tokens for the demo users. Tokens are checked against the users' ``token_version``
    (``sessions.py``).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def repository_now() -> Repository:
            found: Repository = app.state.repository
            return found

        check = revocation_check(repository_now)
        async with open_node(settings, revocation_check=check) as node:
            repository = open_repository(settings)
            try:
                if settings.demo:
                    await seed_demo(repository)
                app.state.delivery_node = node
                app.state.repository = repository
                yield
            finally:
                await repository.close()

    app = FastAPI(title="Second Brain", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    _install_field_errors(app)
    app.include_router(tidings_router())
    for router in (api.router, api_family.router, api_account.router):
        app.include_router(router)
    if settings.demo:
        app.include_router(api_account.demo_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/sdk", StaticFiles(directory=SDK_DIR), name="sdk")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    return app


def _field_error(status: int, code: str, message: str, field: str | None) -> JsonResponse:
    body = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JsonResponse(body, status_code=status)


def _install_field_errors(app: FastAPI) -> None:
    """Refusals name the request field they are about, so the page can show them beside it;
    these replace tidings' handlers of the same errors in this app only."""

    @app.exception_handler(DomainError)
    async def refused(_request: Request, error: DomainError) -> JsonResponse:
        return _field_error(error.status, error.code, error.message, error.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JsonResponse:
        first = error.errors()[0] if error.errors() else {}
        names = [part for part in first.get("loc", ()) if isinstance(part, str)]
        field = names[-1] if names and names[-1] != "body" else None
        message = str(first.get("msg", "the request is malformed"))
        return _field_error(400, "invalid_request", message, field)
