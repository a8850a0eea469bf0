"""The mounted case of ``bench_delivery.py``: tidings inside a host's FastAPI app.

A minimal host application that mounts tidings with the public API
(``Tidings(settings).mount(app)``: routes, error mapping, log redaction and the node's
lifespan), served by plain uvicorn (``uvicorn.run`` with its defaults: uvloop when installed,
h11 or httptools), so ``/ws`` goes through ASGI. ``mount`` routes it ahead of the app's
middleware and router (``delivery.websocket.WebSocketFirst``). The WebSocket implementation
is named rather than left to ``auto``: ``websockets-sansio``, what ``auto`` picks when
websockets is installed, and what docs/embedding.md tells hosts to run with.

Run: ``mounted_host.py`` with the ``TIDINGS_*`` variables of ``tidings serve``
(``TIDINGS_HOST``, ``TIDINGS_PORT``, ``TIDINGS_LOG_LEVEL``, ...).
"""

import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tidings import Tidings, load_settings

settings = load_settings()
app = FastAPI(title="a host application")
Tidings(settings).mount(app)


@app.get("/hello")
async def hello() -> dict[str, str]:
    """One of the host's own routes."""
    return {"hello": "world"}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws="websockets-sansio",
    )
