"""Real delivery nodes and a real worker for integration tests, on loopback only.

``running_node`` serves the app with uvicorn on a free port in this event loop (the same
server ``tidings serve`` builds); ``running_worker`` runs the routing worker in this loop.
Nodes share nothing but the store file and Redis, like separate processes.
"""

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from api_hooks import build_record
from broker import Broker, MemoryBroker, in_one_process
from delivery.auth import RevocationCheck
from delivery.serve import build_server
from foundation.settings import Settings
from outbox.records import Audience, OutboxRecord
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from outbox.worker import serve as serve_worker
from tests.services import serving

SECRET = "test-secret-" + "x" * 32


def make_settings(data_dir: Path, redis_url: str, **overrides: Any) -> Settings:
    """Settings for a test node on a free port, the embedded store in ``data_dir``."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "redis_url": redis_url,
        "jwt_secret": SECRET,
        "port": 0,
        "sweep_interval_seconds": 0.05,
        "lease_seconds": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


def token(user_id: str, *, ttl: float = 3600, secret: str = SECRET, **claims: Any) -> str:
    """An HS256 access token shaped like the host application's."""
    now = int(time.time())
    payload = {"sub": user_id, "exp": now + ttl, "iat": now, "type": "access", **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@dataclass
class Node:
    settings: Settings
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, query: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?{query}"


_MEMORY_BROKERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MemoryBroker]" = (
    weakref.WeakKeyDictionary()
)


def process_broker(settings: Settings) -> Broker | None:
    """With ``memory://``, the one broker of this test (its event loop), which every node and
    worker it starts shares, as one process does; with Redis, ``None`` (each opens its own)."""
    if not in_one_process(settings):
        return None
    loop = asyncio.get_running_loop()
    return _MEMORY_BROKERS.setdefault(loop, MemoryBroker())


@contextlib.asynccontextmanager
async def running_node(
    settings: Settings, *, revocation_check: RevocationCheck | None = None
) -> AsyncIterator[Node]:
    """A delivery node serving until the block ends (then shut down as on SIGTERM)."""
    apply_sqlite(settings.sqlite_path)
    broker = process_broker(settings)
    server = build_server(settings, revocation_check=revocation_check, broker=broker)
    async with serving(server, "the delivery node") as port:
        yield Node(settings, port)


@contextlib.asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[None]:
    """The routing worker (sweep, wake subscriber, arq) until the block ends."""
    apply_sqlite(settings.sqlite_path)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_worker(settings, stop=stop, broker=process_broker(settings)))
    try:
        yield
    finally:
        stop.set()
        await task


async def emit(settings: Settings, event: str, data: dict[str, Any], to: Audience) -> OutboxRecord:
    """Commit one record to the outbox, as a host transaction would."""
    record = build_record(event=event, data=data, to=to, now=datetime.now(UTC))
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        await store.add_records([record])
    finally:
        await store.close()
    return record
