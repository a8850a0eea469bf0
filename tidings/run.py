"""``tidings run``: migrate, then the routing worker and the delivery service in one process.

Meant for the embedded default and for development: production runs ``tidings worker`` and
``tidings serve`` as separate processes, as many of each as needed.
"""

import asyncio
import signal

from delivery.auth import RevocationCheck
from delivery.redaction import install_log_redaction
from delivery.serve import build_server
from migrations.apply import apply_configured
from outbox.worker import serve as serve_worker
from tidings.settings import Settings


async def run_all(settings: Settings, *, revocation_check: RevocationCheck | None = None) -> None:
    """Serve until SIGINT/SIGTERM; the worker stops after the service has."""
    await apply_configured(settings)
    server = build_server(settings, revocation_check=revocation_check)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve_worker(settings, stop=stop), name="worker")
    loop = asyncio.get_running_loop()
    # uvicorn raises SIGTERM again once it has stopped; ignore that second one so the worker
    # gets to finish its batch and release the routing lease.
    loop.add_signal_handler(signal.SIGTERM, lambda: None)
    try:
        install_log_redaction()
        await server.serve()
    finally:
        stop.set()
        await worker
        loop.remove_signal_handler(signal.SIGTERM)
