"""``GET /ws`` under ASGI: the runtime of tidings mounted in a host's app (any ASGI server).

The endpoint is a plain ASGI app behind a Starlette ``WebSocketRoute``: no dependency
injection and no ``WebSocket`` wrapper between the server's ``send`` and the frames. Its task
(the one the server runs for the request) reads client messages for the connection's whole
life; frames are sent by :class:`AsgiSocket` from whatever callback produced them.

What this path costs, against the native runtime of ``tidings serve``
(:mod:`delivery.native`): ASGI has one message per frame, so frames are never coalesced into
one write, and every frame goes through the server's ``send`` coroutine; a connection keeps
the server's per-request objects (its protocol, the scope, an ASGI receive queue and event)
for its life. :class:`WebSocketFirst` keeps the host app's middleware and router out of it.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from fastapi import APIRouter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from delivery.admission import Refused, Upgrade, admit, connection_for, first_header
from delivery.connection import CLOSE_ABNORMAL, Connection
from delivery.node import DeliveryNode
from delivery.transport import release_handshake

router = APIRouter()


class AsgiSocket:
    """A :class:`~delivery.connection.FrameSocket` over ASGI's ``send``.

    Each write runs ``send`` at once, in an eager task: while the server takes the frames it
    completes without suspending, and no task outlives the write. Only when the server makes
    ``send`` wait (its transport is paused: the client does not read) does that task stay,
    with the frames handed over meanwhile, and the socket reports itself stalled until the
    task is done.
    """

    __slots__ = ("_pending", "_send", "_writer", "connection")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._writer: asyncio.Task[None] | None = None
        self._pending: deque[Message] | None = None  # messages handed over while stalled
        self.connection: Connection | None = None

    @property
    def stalled(self) -> bool:
        return self._writer is not None

    def send_frames(self, frames: Sequence[str]) -> None:
        messages: list[Message] = [{"type": "websocket.send", "text": text} for text in frames]
        self._hand_over(messages)

    def close(self, code: int, reason: str, *, drop_pending: bool) -> None:
        message: Message = {"type": "websocket.close", "code": code, "reason": reason}
        if drop_pending and self._writer is not None:
            self._pending = None
            self._writer.cancel()
            self._writer = None
        self._hand_over([message])

    def _hand_over(self, messages: list[Message]) -> None:
        if self._writer is not None:
            if self._pending is None:
                self._pending = deque()
            self._pending.extend(messages)
            return
        loop = asyncio.get_running_loop()
        task = asyncio.Task(self._write(messages), loop=loop, eager_start=True)
        if not task.done():
            self._writer = task  # also keeps the task referenced while it waits

    async def _write(self, messages: list[Message]) -> None:
        try:
            for message in messages:
                await self._send(message)
            while self._pending:
                await self._send(self._pending.popleft())
        except asyncio.CancelledError:
            return  # closed with drop_pending: the close message follows in a task of its own
        except Exception:
            # The server refused the message: the client went away (uvicorn raises
            # ClientDisconnected, others OSError) or the socket is closed already.
            self._pending = None
            self._writer = None
            if self.connection is not None:
                self.connection.on_socket_closed(CLOSE_ABNORMAL)
            return
        if self._writer is not None:  # it had to wait: the socket has drained
            self._writer = None
            if self.connection is not None:
                self.connection.on_drained()


class WebSocketEndpoint:
    """The ASGI app of ``/ws``: protocol v1 (welcome, replay after ``since``, ``caught_up``,
    then live), the socket accepted before any refusal so that browsers read the code.

    One coroutine for the connection's life, reading client messages until it ends (its
    frame is all the endpoint keeps while the connection is idle)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        release_handshake(send)
        connection = await _admitted(scope, send)
        if connection is None:
            return
        connection.start()
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    if text is not None:
                        connection.on_text(text)
                    else:
                        connection.on_binary()
                elif kind == "websocket.disconnect":
                    connection.on_socket_closed(message.get("code") or 1005)
                    return
        finally:
            connection.on_socket_closed(CLOSE_ABNORMAL)  # nothing if it has ended already
            await connection.wait_requests()


ENDPOINT = WebSocketEndpoint()


class WebSocketFirst:
    """ASGI middleware that :func:`delivery.app.mount` puts ahead of an app's whole stack:
    a WebSocket request for ``path`` goes straight to :data:`ENDPOINT`, anything else to
    ``app``.

    So a connection keeps none of the app's middleware, exception-handler and router frames
    for its life. It returns the awaitable of whichever app it picks rather than awaiting
    it, so it adds no frame of its own either. ``path`` is matched as Starlette's router
    matches routes: against the path below the scope's ``root_path``.
    """

    __slots__ = ("_app", "_path")

    def __init__(self, app: ASGIApp, path: str) -> None:
        self._app = app
        self._path = path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket" and route_path(scope) == self._path:
            return ENDPOINT(scope, receive, send)
        return self._app(scope, receive, send)


def route_path(scope: Scope) -> str:
    """The request's path below its ``root_path``, as Starlette's router sees it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


async def _admitted(scope: Scope, send: Send) -> Connection | None:
    """The connection of an accepted socket, or ``None`` once it is closed with the code
    that refuses it. (Apart, so that what admission read is not kept for the connection's
    life.)"""
    node: DeliveryNode = scope["app"].state.delivery_node
    upgrade = Upgrade.parse(scope["query_string"].decode("latin-1"), first_header(scope["headers"]))
    try:
        session, principal = await admit(upgrade, node)
    except Refused as refused:
        node.metrics.closes.labels(str(refused.code)).inc()
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": refused.code, "reason": refused.reason})
        return None
    socket = AsgiSocket(send)
    socket.connection = connection_for(socket, session, node, principal)
    return socket.connection


# An instance rather than a function: Starlette then calls it as an ASGI app, as is.
router.add_websocket_route("/ws", cast(Any, ENDPOINT))
