"""The example app served by uvicorn in the test's event loop, on a free loopback port, in
demo mode on the embedded store; the routing worker in burst mode when a test asks, or in
the app for the whole test."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from delivery.serve import build_server
from examples.second_brain.app import create_app
from examples.second_brain.resolvers import RESOLVERS_PATH
from foundation.constants import DEMO_JWT_SECRET
from foundation.settings import Settings
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.worker import serve as serve_worker
from tests.services import serving


@dataclass
class Example:
    settings: Settings
    port: int
    http: httpx.AsyncClient

    def ws(self, query: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?{query}"

    async def route(self) -> None:
        """Route everything pending (the worker in burst mode, with the app's resolvers)."""
        await serve_worker(self.settings, burst=True)

    async def sign_in(self, user: str, session_id: str, user_agent: str = "pytest") -> str:
        """A token from ``POST /demo/token`` for ``user`` signing in from ``session_id``."""
        answer = await self.http.post(
            "/demo/token",
            json={"user": user, "session_id": session_id},
            headers={"User-Agent": user_agent},
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
        return token


def example_settings(data_dir: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Demo settings on ``data_dir``; the worker's resolvers read the same directory (they
    build their settings from the environment, as in a real worker)."""
    monkeypatch.setenv("TIDINGS_DATA_DIR", str(data_dir))
    return Settings(
        data_dir=data_dir,
        redis_url=redis_url,
        jwt_secret=DEMO_JWT_SECRET,
        demo=True,
        port=0,
        resolvers=RESOLVERS_PATH,
    )


@contextlib.asynccontextmanager
async def running_example(settings: Settings, *, worker: bool = False) -> AsyncIterator[Example]:
    """The example app serving until the block ends (then shut down as on SIGTERM); with
    ``worker``, the routing worker runs in it (then do not call ``Example.route``)."""
    apply_sqlite(settings.sqlite_path)
    server = build_server(settings, app=create_app(settings, worker=worker))
    async with (
        serving(server, "the example app") as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        yield Example(settings, port, http)
