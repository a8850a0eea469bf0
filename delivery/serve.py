"""``tidings serve``: the delivery service under uvicorn, with tokens kept out of its logs.

uvicorn closes open WebSockets with 1012 when it stops; the contract says 1001, so the server
first closes every connection itself (``hub.shut_down_all``) and only then lets uvicorn
finish. Request lines and header blocks are limited to 16 KiB (h11 answers anything larger
with an error at once instead of waiting).
"""

import asyncio
import socket

import uvicorn
from fastapi import FastAPI

from delivery.app import create_app
from delivery.auth import RevocationCheck
from delivery.redaction import install_log_redaction, uvicorn_log_config
from tidings.settings import Settings

MAX_HEADER_BYTES = 16 * 1024
GRACE_SECONDS = 5.0


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._tidings_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(self._tidings_app.state, "tidings", None)
        if services is not None:
            services.hub.shut_down_all()
            deadline = asyncio.get_running_loop().time() + GRACE_SECONDS
            while services.hub.connection_count and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)  # each connection unregisters once its 1001 is sent
        await super().shutdown(sockets)


def build_server(
    settings: Settings, *, revocation_check: RevocationCheck | None = None
) -> uvicorn.Server:
    """A uvicorn server for the service, configured from ``settings``."""
    app = create_app(settings, revocation_check=revocation_check)
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
        proxy_headers=False,
    )
    return _Server(config, app)


def serve(settings: Settings, *, revocation_check: RevocationCheck | None = None) -> None:
    """Run the service until SIGINT or SIGTERM."""
    server = build_server(settings, revocation_check=revocation_check)
    install_log_redaction()
    server.run()
