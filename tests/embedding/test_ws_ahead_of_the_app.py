"""``mount`` serves ``/ws`` ahead of the host app's middleware and router, under plain uvicorn.

A host's FastAPI app with a middleware of its own, served in this event loop by a uvicorn
server with uvicorn's defaults (its sans-I/O WebSocket protocol), as ``uvicorn app:app``
serves it: tidings' ``/ws`` (under ``prefix``, below the scope's ``root_path``) goes straight
to tidings' endpoint and the host's middleware never sees it, while every other request goes
through the host's app as before. Once a socket is accepted, uvicorn's protocol no longer
holds the handshake's request and response, and the connection works as ever.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidStatus

from delivery.app import mount
from outbox.stores.sqlite.schema import apply_sqlite
from tests.delivery.helpers import close_code, connect, recv, unique
from tests.delivery.node import make_settings, process_broker, token
from tests.services import serving


class SeenPaths:
    """The host's own middleware: remembers the path of every request it sees."""

    def __init__(self, app: ASGIApp, seen: list[tuple[str, str]]) -> None:
        self._app = app
        self._seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self._seen.append((scope["type"], scope["path"]))
        await self._app(scope, receive, send)


@contextlib.asynccontextmanager
async def host_app(
    tmp_path: Path, *, prefix: str = "", root_path: str = ""
) -> AsyncIterator[tuple[str, list[tuple[str, str]], uvicorn.Server]]:
    """A host app that mounts tidings, served by uvicorn with its defaults until the block
    ends; yields its base URL, the paths its middleware saw, and the server."""
    settings = make_settings(tmp_path, "memory://")
    apply_sqlite(settings.sqlite_path)
    seen: list[tuple[str, str]] = []
    app = FastAPI()
    mount(app, settings, prefix=prefix, broker=process_broker(settings))
    app.add_middleware(SeenPaths, seen=seen)  # after mount, as a host may

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", root_path=root_path)
    server = uvicorn.Server(config)
    async with serving(server, "the host app") as port:
        yield f"127.0.0.1:{port}", seen, server


async def test_ws_skips_the_host_s_middleware_and_its_other_routes_do_not(
    tmp_path: Path,
) -> None:
    user = unique("alice")
    async with host_app(tmp_path) as (where, seen, _):
        async with connect(f"ws://{where}/ws?token={token(user)}") as ws:
            welcome = await recv(ws)
        async with httpx.AsyncClient() as client:
            hello = await client.get(f"http://{where}/hello")
            ready = await client.get(f"http://{where}/readyz")
    assert welcome["type"] == "welcome" and welcome["user_id"] == user
    assert hello.json() == {"hello": "world"}
    assert ready.status_code == 200
    assert seen == [("http", "/hello"), ("http", "/readyz")]


async def test_under_a_prefix_only_the_prefixed_ws_is_tidings_s(tmp_path: Path) -> None:
    user = unique("alice")
    async with host_app(tmp_path, prefix="/notify") as (where, seen, _):
        async with connect(f"ws://{where}/notify/ws?token={token(user)}") as ws:
            welcome = await recv(ws)
        with pytest.raises(InvalidStatus):  # no such route in the host's app
            async with connect(f"ws://{where}/ws?token={token(user)}"):
                pass
    assert welcome["user_id"] == user
    assert seen == [("websocket", "/ws")]


async def test_ws_is_found_below_the_server_s_root_path(tmp_path: Path) -> None:
    user = unique("alice")
    async with host_app(tmp_path, root_path="/api") as (where, seen, _):
        async with connect(f"ws://{where}/ws?token={token(user)}") as ws:
            welcome = await recv(ws)
    assert welcome["user_id"] == user
    assert seen == []


async def test_refusals_keep_their_close_codes(tmp_path: Path) -> None:
    async with host_app(tmp_path) as (where, _, _):
        async with connect(f"ws://{where}/ws") as ws:
            missing = await close_code(ws)
        async with connect(f"ws://{where}/ws?token=not-a-token") as ws:
            invalid = await close_code(ws)
    assert (missing, invalid) == (4401, 4401)


async def test_an_accepted_socket_s_handshake_is_released_and_it_keeps_working(
    tmp_path: Path,
) -> None:
    user = unique("alice")
    async with host_app(tmp_path) as (where, _, server):
        async with connect(f"ws://{where}/ws?token={token(user)}") as ws:
            assert (await recv(ws))["type"] == "welcome"
            assert (await recv(ws))["type"] == "caught_up"
            protocols: list[Any] = [
                p
                for p in server.server_state.connections
                if isinstance(p, WebSocketsSansIOProtocol)
            ]
            pong = await ws.ping()
            await asyncio.wait_for(pong, 5)
            await ws.send('{"type": "nope"}')
            answer = await recv(ws)
    assert len(protocols) == 1
    assert protocols[0].request is None and protocols[0].response is None
    assert (answer["type"], answer["code"]) == ("error", "unknown_type")
