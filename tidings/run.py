"""``tidings run``: migrate, then the routing worker and the delivery service in one process.

Meant for the embedded default and for development: production runs ``tidings worker`` and
``tidings serve`` as separate processes, as many of each as needed.
"""

import asyncio
import signal
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from delivery.auth import RevocationCheck
from delivery.serve import build_server
from foundation.settings import Settings
from outbox.stores import migrate


async def run_all(
    settings: Settings,
    *,
    revocation_check: RevocationCheck | None = None,
    app: FastAPI | None = None,
    worker: bool = True,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; by default the standalone service, with the routing
    worker mounted in it when ``worker`` (both on one broker, so ``memory://`` works here).

    An ``app`` of your own runs the worker through its own mount (``Tidings(worker=True)``),
    so ``worker`` must then be False. ``on_started(port)`` runs once the socket listens
    (useful with ``port=0``).
    """
    if app is not None and worker:
        raise ValueError("an app of your own runs the worker through its mount(worker=True)")
    await migrate(settings)
    server = build_server(settings, revocation_check=revocation_check, app=app, worker=worker)
    loop = asyncio.get_running_loop()
    # uvicorn raises SIGTERM again once it has stopped; ignore that second one so the worker
    # gets to finish its batch and release the routing lease, and the exit status is 0.
    loop.add_signal_handler(signal.SIGTERM, lambda: None)
    serving = asyncio.create_task(server.serve(), name="server")
    try:
        if on_started is not None:
            await _announce(server, serving, on_started)
        await serving
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def bound_port(server: uvicorn.Server) -> int:
    """The port a started server listens on."""
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


async def _announce(
    server: uvicorn.Server, serving: asyncio.Task[None], on_started: Callable[[int], None]
) -> None:
    while not server.started:
        if serving.done():
            return  # startup failed: awaiting the task raises the error
        await asyncio.sleep(0.02)  # uvicorn offers no startup event to wait on
    on_started(bound_port(server))
