"""Serve the example application under uvicorn, optionally with the routing worker.

Tokens stay out of the logs (tidings' redacting log config), and on shutdown every WebSocket
is closed with 1001 (going away) before uvicorn stops, as ``tidings serve`` does.
"""

import asyncio
import signal
import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from delivery.redaction import install_log_redaction, uvicorn_log_config
from examples.second_brain.app import create_app
from migrations.apply import apply_configured
from outbox.worker import serve as serve_worker
from tidings.settings import Settings

MAX_HEADER_BYTES = 16 * 1024
GRACE_SECONDS = 5.0


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(self._app.state, "tidings", None)
        if services is not None:
            services.hub.shut_down_all()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GRACE_SECONDS
            while services.hub.connection_count and loop.time() < deadline:
                await asyncio.sleep(0.01)  # each connection unregisters once its 1001 is sent
        await super().shutdown(sockets)


def build_server(settings: Settings) -> uvicorn.Server:
    """A uvicorn server for the example app on ``settings.host:settings.port``."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ping_interval_seconds,
        ws_ping_timeout=settings.ping_interval_seconds,
        log_config=uvicorn_log_config(),
        timeout_graceful_shutdown=int(GRACE_SECONDS) + 1,
    )
    return _Server(config, app)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on (useful with ``port=0``)."""
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


async def serve(
    settings: Settings,
    *,
    migrate: bool = False,
    worker: bool = False,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; with ``worker`` the routing worker runs in this process
    and stops after the server has. ``on_started(port)`` runs once the socket is listening."""
    if migrate:
        await apply_configured(settings)
    server = build_server(settings)
    stop = asyncio.Event()
    routing = asyncio.create_task(serve_worker(settings, stop=stop)) if worker else None
    install_log_redaction()
    loop = asyncio.get_running_loop()
    # uvicorn handles SIGTERM itself, then raises it again once it has stopped; this no-op
    # receives that second one, so the worker still stops cleanly and the exit status is 0.
    loop.add_signal_handler(signal.SIGTERM, lambda: None)
    serving = asyncio.create_task(server.serve(), name="server")
    try:
        if on_started is not None:
            await _announce(server, serving, on_started)
        await serving
    finally:
        stop.set()
        if routing is not None:
            await routing
        loop.remove_signal_handler(signal.SIGTERM)


async def _announce(
    server: uvicorn.Server, serving: asyncio.Task[None], on_started: Callable[[int], None]
) -> None:
    while not server.started:
        if serving.done():
            return  # startup failed: awaiting the task raises the error
        await asyncio.sleep(0.02)
    on_started(bound_port(server))
