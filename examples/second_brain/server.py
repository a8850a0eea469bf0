"""Serve the example application with tidings' hardened server, optionally with the worker.

The server is ``tidings run``'s: tokens stay out of the logs, heads are limited, slow clients
are closed with 4408, and every WebSocket gets 1001 on shutdown.
"""

from collections.abc import Callable

from examples.second_brain.app import create_app
from tidings import Settings
from tidings.run import run_all


async def serve(
    settings: Settings,
    *,
    worker: bool = False,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; with ``worker`` the routing worker runs in this process
    (mounted with the app, see ``create_app``).

    Missing migrations are applied first. ``on_started(port)`` runs once the socket listens.
    """
    app = create_app(settings, worker=worker)
    await run_all(settings, app=app, worker=False, on_started=on_started)
