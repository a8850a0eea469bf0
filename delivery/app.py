"""The delivery service as a FastAPI app, standalone or mounted in the host application.

:func:`mount` is the one way tidings goes into an app: ``tidings serve`` builds its own app
with it (:func:`create_app`), and a host application gets the same routes, error mapping,
log redaction and node (:func:`delivery.node.open_node`), optionally with the routing worker
in the same process, through ``tidings.Tidings(settings).mount(app)``.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from broker import Broker, open_broker
from delivery import probes, rest, rest_v2, websocket
from delivery.auth import RevocationCheck
from delivery.node import DeliveryNode, open_node
from delivery.responses import install_error_handlers
from foundation.redaction import install_log_redaction
from foundation.settings import Settings
from outbox.resolvers import Resolvers
from outbox.stores import migrate as migrate_store
from outbox.worker import serve as serve_worker


def tidings_router() -> APIRouter:
    """Every route of the service: ``/ws``, the REST API (v1 and v2) and the probes.

    The REST routes answer their own errors in the contract's shape, whatever exception
    handlers the app that includes them has.
    """
    router = APIRouter()
    router.include_router(websocket.router)
    router.include_router(rest.router)
    router.include_router(rest_v2.router)
    router.include_router(probes.router)
    return router


class Mounted:
    """tidings as :func:`mount` put it in an app: the node while the app runs."""

    def __init__(self) -> None:
        self._node: DeliveryNode | None = None

    @property
    def running(self) -> bool:
        """True between the app's startup and its shutdown."""
        return self._node is not None

    @property
    def node(self) -> DeliveryNode:
        """The node; ``RuntimeError`` before the app started or after it stopped."""
        if self._node is None:
            raise RuntimeError("tidings is not running: the app has not started (or stopped)")
        return self._node

    @contextlib.asynccontextmanager
    async def run(
        self,
        app: Any,
        settings: Settings,
        *,
        revocation_check: RevocationCheck | None,
        resolvers: Resolvers | None,
        worker: bool,
        migrate: bool,
        broker: Broker | None,
    ) -> AsyncIterator[DeliveryNode]:
        """Open the node (and start the worker) for the app's life, on one broker: with
        ``memory://`` the worker's signals reach this node because they share it."""
        install_log_redaction()  # handlers configured since the app was imported
        if migrate:
            await migrate_store(settings)
        signals = open_broker(settings) if broker is None else broker
        try:
            async with open_node(
                settings, revocation_check=revocation_check, broker=signals
            ) as node:
                app.state.delivery_node = node
                stop = asyncio.Event()
                routing = None
                if worker:
                    serving = serve_worker(settings, stop=stop, resolvers=resolvers, broker=signals)
                    routing = asyncio.create_task(serving, name="tidings-worker")
                self._node = node
                try:
                    yield node
                finally:
                    self._node = None
                    stop.set()
                    if routing is not None:
                        await routing
        finally:
            if broker is None:
                await signals.close()


def mount(
    app: FastAPI,
    settings: Settings,
    *,
    revocation_check: RevocationCheck | None = None,
    resolvers: Resolvers | None = None,
    worker: bool = False,
    migrate: bool = False,
    prefix: str = "",
    broker: Broker | None = None,
) -> Mounted:
    """Serve tidings from ``app``: its routes under ``prefix``, and its node for the app's life.

    ``/ws`` is served ahead of the app's middleware and router
    (:class:`~delivery.websocket.WebSocketFirst`): the app's middleware does not see it. Installs
    log redaction on the server loggers (uvicorn's, under ``uvicorn app:app``,
    ``fastapi run`` or gunicorn's uvicorn workers) now and again at startup, and wraps the
    app's lifespan: the node opens before the app's own startup and closes after its own
    shutdown (every connection closed with 1001 first). With ``worker`` the routing worker
    runs in this process (``resolvers`` default to ``TIDINGS_RESOLVERS``'s); with ``migrate``
    the store's schema is brought up to date at startup. The node and the worker share one
    broker, opened at startup from ``TIDINGS_REDIS_URL`` unless ``broker`` (the process's, which
    the caller closes) is given. Call it once, before the app starts.
    """
    app.include_router(tidings_router(), prefix=prefix)
    _serve_ws_first(app, prefix + "/ws")
    install_log_redaction()
    mounted = Mounted()
    host_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(started: Any) -> AsyncIterator[Any]:
        running = mounted.run(
            started,
            settings,
            revocation_check=revocation_check,
            resolvers=resolvers,
            worker=worker,
            migrate=migrate,
            broker=broker,
        )
        async with running, host_lifespan(started) as state:
            yield state

    app.router.lifespan_context = lifespan
    return mounted


def _serve_ws_first(app: FastAPI, path: str) -> None:
    """Put :class:`~delivery.websocket.WebSocketFirst` ahead of the app's whole middleware
    stack (built when the app first runs, so middleware the host adds later is inside it)."""
    if app.middleware_stack is not None:  # the app has run already: wrap what it built
        app.middleware_stack = websocket.WebSocketFirst(app.middleware_stack, path)
        return
    build = app.build_middleware_stack

    def build_with_ws_first() -> ASGIApp:
        return websocket.WebSocketFirst(build(), path)

    app.build_middleware_stack = build_with_ws_first  # type: ignore[method-assign]


def create_app(
    settings: Settings,
    *,
    revocation_check: RevocationCheck | None = None,
    worker: bool = False,
    broker: Broker | None = None,
) -> FastAPI:
    """The standalone service (``tidings serve``; ``tidings run`` with the ``worker``):
    :func:`mount` in an app of its own, whose every error, unknown paths included, has the
    contract's shape."""
    app = FastAPI(title="tidings", docs_url=None, redoc_url=None)
    install_error_handlers(app)
    mount(app, settings, revocation_check=revocation_check, worker=worker, broker=broker)
    return app
