"""The example host application: its API, the page, and tidings mounted in it.

``Tidings(settings, ...).mount(app)`` makes the app a tidings delivery node (``/ws``,
``/notifications``, ``/ws/ticket``, ``/healthz``...), which is how a host application serves
notifications without another process. With ``worker=True`` the routing worker runs in the
app's process too (``examples.demo``); otherwise run ``tidings worker`` beside it.
"""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from examples.second_brain import api, api_account, api_family
from examples.second_brain.demo_data import seed_demo
from examples.second_brain.domain import DomainError
from examples.second_brain.ports import Repository
from examples.second_brain.repository import open_repository
from examples.second_brain.resolvers import resolvers_for
from examples.second_brain.sessions import revocation_check
from tidings import Settings, Tidings

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
# The JavaScript client, built (clients/js/dist is committed, so no build step is needed).
SDK_DIR: Final = Path(__file__).resolve().parents[2] / "clients" / "js" / "dist"


def create_app(settings: Settings, *, worker: bool = False) -> FastAPI:
    """The application for ``settings``; its store must already be migrated.

    tidings is mounted in it (``app.state.notifications``, the :class:`tidings.Tidings` the
    routes emit, wake and revoke with); with ``worker`` the routing worker runs in the app's
    process, with the app's group resolvers. With ``settings.demo`` the demo data is seeded
    at startup and ``POST /demo/token`` signs tokens for the demo users. Tokens are checked
    against the users' ``token_version`` (``sessions.py``).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # tidings' node is up by now (mount wraps this lifespan) and closes after it.
        repository = open_repository(notifications)
        try:
            if settings.demo:
                await seed_demo(repository)
            app.state.repository = repository
            yield
        finally:
            await repository.close()

    app = FastAPI(title="Second Brain", lifespan=lifespan, docs_url=None, redoc_url=None)

    def repository_now() -> Repository:
        found: Repository = app.state.repository
        return found

    notifications = Tidings(
        settings,
        resolvers=resolvers_for(settings) if worker else None,
        revocation_check=revocation_check(repository_now),
        worker=worker,
    )
    notifications.mount(app)
    app.state.notifications = notifications
    _install_field_errors(app)
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


def _field_error(status: int, code: str, message: str, field: str | None) -> JSONResponse:
    body = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def _install_field_errors(app: FastAPI) -> None:
    """The app's errors in tidings' shape, ``{"code", "message"}``, plus the request field a
    refusal is about, so the page can show it beside the field. tidings' own routes answer
    their errors themselves."""

    @app.exception_handler(DomainError)
    async def refused(_request: Request, error: DomainError) -> JSONResponse:
        return _field_error(error.status, error.code, error.message, error.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        names = [part for part in first.get("loc", ()) if isinstance(part, str)]
        field = names[-1] if names and names[-1] != "body" else None
        message = str(first.get("msg", "the request is malformed"))
        return _field_error(400, "invalid_request", message, field)
