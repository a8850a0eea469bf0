"""A real tidings server for the client's integration tests, on loopback.

``TidingsServer`` runs ``tidings run`` (or ``revoking_server.py``, which adds a revocation
check) in a subprocess with its own data dir and port, so a test can SIGKILL it and start it
again on the same port and store. Emits go straight into the store's outbox, as a host
transaction would commit them. Everything waits on conditions with deadlines.
"""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from api_hooks import Users, build_record
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore

SECRET = "python-client-test-secret-" + "x" * 32
REDIS_URL = os.environ.get("TIDINGS_CLIENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
HERE = Path(__file__).resolve().parent
STARTUP_SECONDS = 30.0


def token(user: str, *, ttl: float = 3600, **claims: Any) -> str:
    """An HS256 access token shaped like the host application's."""
    now = time.time()
    payload = {"sub": user, "iat": int(now), "exp": int(now + ttl), "type": "access", **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


def unique(name: str) -> str:
    """A user id of this test's own: every server on this machine shares Redis pub/sub."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 10.0
) -> None:
    """Wait until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TidingsServer:
    """One server process; ``start`` again after ``kill`` reuses the port and the store."""

    def __init__(
        self, data_dir: Path, *, revoked_prefix: str | None = None, **settings: str
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.revoked_prefix = revoked_prefix
        self.settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tidings.sqlite3"

    def start(self) -> None:
        """Start and wait until ``/readyz`` answers 200."""
        env = {
            **os.environ,
            "TIDINGS_DATA_DIR": str(self.data_dir),
            "TIDINGS_PORT": str(self.port),
            "TIDINGS_HOST": "127.0.0.1",
            "TIDINGS_REDIS_URL": REDIS_URL,
            "TIDINGS_JWT_SECRET": SECRET,
            "TIDINGS_SWEEP_INTERVAL_SECONDS": "0.05",
            "TIDINGS_LEASE_SECONDS": "1",
            **{f"TIDINGS_{name.upper()}": value for name, value in self.settings.items()},
        }
        bin_dir = Path(sys.executable).parent
        command = (
            [sys.executable, str(HERE / "revoking_server.py"), self.revoked_prefix]
            if self.revoked_prefix
            else [str(bin_dir / "tidings"), "run"]
        )
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the server did not start:\n{self._log.read_text()}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as in a crash."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM (sockets get 1001), SIGKILL after 10 s."""
        self._signal(signal.SIGTERM)

    def _signal(self, which: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(which)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    async def emit(
        self, user: str, count: int = 1, *, start: int = 0, origin: str | None = None
    ) -> None:
        """Commit ``count`` notifications for ``user`` in one transaction (data ``{"i"}``)."""
        apply_sqlite(self.sqlite_path)
        now = datetime.now(UTC)
        records = [
            build_record(
                event="test.note",
                data={"i": start + n},
                to=Users((user,)),
                now=now,
                origin_session=origin,
            )
            for n in range(count)
        ]
        store = await SqliteStore.open(self.sqlite_path)
        try:
            await store.add_records(records)
        finally:
            await store.close()

    async def cursor(self, user: str, device: str = "default") -> dict[str, int]:
        """``GET /notifications/cursor`` for ``user``."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            response = await http.get(
                "/notifications/cursor",
                params={"device": device},
                headers={"Authorization": f"Bearer {token(user)}"},
            )
        found: dict[str, int] = response.json()
        return found


class DroppingRelay:
    """A WebSocket relay on loopback between a client and a real server that drops the
    server frames ``drop`` picks: the honest way to make a live seq jump reach a client."""

    def __init__(self, upstream_port: int, drop: Callable[[dict[str, Any]], bool]) -> None:
        self.upstream_port = upstream_port
        self.drop = drop
        self.dropped: list[dict[str, Any]] = []
        self.port = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["DroppingRelay"]:
        async with websockets.serve(self._bridge, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            yield self

    async def _bridge(self, client: ServerConnection) -> None:
        path = client.request.path if client.request is not None else "/ws"
        upstream_url = f"ws://127.0.0.1:{self.upstream_port}{path}"
        async with websockets.connect(upstream_url, proxy=None) as upstream:
            await asyncio.gather(self._down(upstream, client), self._up(client, upstream))

    async def _down(self, upstream: ClientConnection, client: ServerConnection) -> None:
        try:
            async for text in upstream:
                frame = json.loads(text)
                if self.drop(frame):
                    self.dropped.append(frame)
                else:
                    await client.send(text)
        except ConnectionClosed:
            pass
        received = upstream.close_code
        await client.close(received if received not in (None, 1005, 1006) else 1011)

    async def _up(self, client: ServerConnection, upstream: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in client:
                await upstream.send(text)
        await upstream.close()
