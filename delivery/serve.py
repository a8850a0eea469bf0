"""``tidings serve``: the delivery service under uvicorn, with tokens kept out of its logs.

The server waits for the store before it starts, as the worker does: while the store is
unavailable it logs the outage once (with its cause), tries again with backoff, and only
listens once the store answers; SIGTERM or SIGINT meanwhile ends it without starting.

uvicorn closes open WebSockets with 1012 when it stops; the contract says 1001, so the server
first closes every connection itself (``hub.close_all``) and only then lets uvicorn
finish. Head-size limits and slow-client handling live in :mod:`delivery.transport`.
"""

import asyncio
import gc
import signal
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from broker import Broker
from delivery.app import create_app
from delivery.auth import RevocationCheck
from delivery.native import native_protocol
from delivery.node import SHUTDOWN_GRACE_SECONDS
from delivery.transport import MAX_HEADER_BYTES, LimitedWebSocketProtocol, RequestHeadLimit
from foundation.logs import logging_config
from foundation.redaction import install_log_redaction
from foundation.settings import Settings
from outbox.stores import open_store_when_available


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, settings: Settings) -> None:
        super().__init__(config)
        self._tidings_app = app
        self._settings = settings
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.freeze_at_startup = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Wait until the store answers, then start (the app's lifespan opens its own)."""
        self._loop = asyncio.get_running_loop()
        if self.should_exit:  # a signal came before the loop was known
            return
        store = await open_store_when_available(self._settings, self._stopping)
        if store is None:
            return  # stopped while waiting: uvicorn sees should_exit and ends
        await store.close()
        await super().startup(sockets)
        if self.freeze_at_startup:
            # Modules, the app and the node live as long as the process: keep them out of
            # the collector's full passes, which otherwise stall the loop for ~50 ms.
            gc.freeze()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:
            # A signal handler: let the loop set the event, between its own steps.
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        node = getattr(self._tidings_app.state, "delivery_node", None)
        if node is not None:
            await node.hub.close_all(SHUTDOWN_GRACE_SECONDS)
        await super().shutdown(sockets)


def build_server(
    settings: Settings,
    *,
    revocation_check: RevocationCheck | None = None,
    app: FastAPI | None = None,
    worker: bool = False,
    broker: Broker | None = None,
) -> uvicorn.Server:
    """A uvicorn server for ``app`` (default: the standalone service, with the routing worker
    in it when ``worker``), set up from ``settings``.

    A host application that mounts ``tidings_router()`` passes its own app to get the same
    limits, keepalive and 1001 on shutdown; its ``/ws`` is served through ASGI. The standalone
    service's ``/ws`` is carried by the native runtime (:mod:`delivery.native`) unless
    ``TIDINGS_WS_RUNTIME=asgi``; REST, probes and metrics go through the app either way.
    """
    ws: type[asyncio.Protocol] = LimitedWebSocketProtocol
    if app is None:
        app = create_app(settings, revocation_check=revocation_check, worker=worker, broker=broker)
        if settings.ws_runtime == "native":
            ws = native_protocol(app)
    config = uvicorn.Config(
        RequestHeadLimit(app, MAX_HEADER_BYTES),
        host=settings.host,
        port=settings.port,
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ws=ws,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ping_interval_seconds,
        ws_ping_timeout=settings.ping_interval_seconds,
        log_config=logging_config(settings),
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_SECONDS) + 1,
        proxy_headers=False,
    )
    # uvicorn.Config has just configured logging: filter its loggers themselves too, so that
    # every handler (the host's, a test's, the root's) sees records already redacted.
    install_log_redaction()
    return _Server(config, app, settings)


def serve(settings: Settings, *, revocation_check: RevocationCheck | None = None) -> None:
    """Run the service until SIGINT or SIGTERM, then return (exit status 0)."""
    # uvicorn raises the signal again once it has stopped; let that one do nothing.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    server = build_server(settings, revocation_check=revocation_check)
    if isinstance(server, _Server):
        server.freeze_at_startup = True  # this process's one job
    server.run()
