"""Transport limits uvicorn does not enforce by itself.

A request line with its headers is limited to 16 KiB and refused at once, never waited on:
h11 refuses a longer head while it is still incomplete, :class:`RequestHeadLimit` answers
431 to an HTTP request that arrived whole, and :class:`LimitedWebSocketProtocol` does the same
for WebSocket requests.

uvicorn holds every outgoing message, close frames included, until the client reads, and its
``transport.close()`` waits for buffered bytes to flush: a client that stops reading would
never get its 4408 and would keep its socket open for ever. :class:`LimitedWebSocketProtocol`
queues close frames at once and aborts a socket that has not flushed them in time.

uvicorn's sans-I/O protocol keeps the opening handshake's request and response for the
connection's life; :func:`release_handshake` lets it drop them once the socket is accepted
(the response and its headers are freed; websockets' parser still holds the request).

This extends uvicorn 0.54's sans-I/O protocol (``pyproject.toml`` pins that minor version).
"""

import asyncio
import socket
import struct
from collections.abc import Iterable, Sized

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import SecurityError
from websockets.http11 import Request

MAX_HEADER_BYTES = 16 * 1024
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


HEAD_TOO_LARGE = orjson.dumps(
    {
        "code": "request_head_too_large",
        "message": f"the request line and headers are limited to {MAX_HEADER_BYTES} bytes",
    }
)
BAD_REQUEST = orjson.dumps({"code": "bad_request", "message": "the request is malformed"})
_REQUEST_LINE_EXTRA = len("  HTTP/1.1\r\n")  # around the method and the target
_HEADER_LINE_EXTRA = len(": \r\n")


def head_size(method: str, target_bytes: int, headers: Iterable[tuple[Sized, Sized]]) -> int:
    """The size of a request line and its header block, as sent (to a byte or two)."""
    header_bytes = sum(len(name) + len(value) + _HEADER_LINE_EXTRA for name, value in headers)
    return len(method) + target_bytes + _REQUEST_LINE_EXTRA + header_bytes + 2


def raw_response(status: int, phrase: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class RequestHeadLimit:
    """ASGI middleware: 431 for an HTTP request whose line and headers exceed ``max_bytes``.

    h11 refuses such a head only while it is incomplete; this refuses one that arrived whole.
    WebSocket requests are checked by :class:`LimitedWebSocketProtocol` before they get here.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            target = len(scope["raw_path"]) + len(scope["query_string"]) + 1
            if head_size(scope["method"], target, scope["headers"]) > self._max_bytes:
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(HEAD_TOO_LARGE)),
                    (b"connection", b"close"),
                ]
                await send({"type": "http.response.start", "status": 431, "headers": headers})
                await send({"type": "http.response.body", "body": HEAD_TOO_LARGE})
                return
        await self._app(scope, receive, send)


class LimitedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, with the limits the contract needs.

    A request whose line and headers exceed ``MAX_HEADER_BYTES``, or that websockets cannot
    parse (it refuses lines over 8 KiB), is answered (431 or 400) and closed at once; uvicorn
    would leave an unparsable one unanswered.

    A close frame (a few bytes) is written even while the transport is paused, so a slow
    client finds the close code (4408) after the frames it has not read yet. A socket whose
    client has not taken its close frame ``ping_timeout`` seconds later (the same patience as
    for a missing pong) is reset, so it cannot hold the connection and its buffers open.
    """

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        failed = self.conn.handshake_exc
        if failed is not None and not self.handshake_initiated and not self.close_sent:
            self._refuse(isinstance(failed, SecurityError))

    def handle_connect(self, event: Request) -> None:
        size = head_size("GET", len(event.path), event.headers.raw_items())
        if size > MAX_HEADER_BYTES:
            self.handshake_initiated = True
            self._refuse(too_large=True)
            return
        super().handle_connect(event)

    def _refuse(self, too_large: bool) -> None:
        self.handshake_complete = self.close_sent = True
        if too_large:
            response = raw_response(431, "Request Header Fields Too Large", HEAD_TOO_LARGE)
        else:
            response = raw_response(400, "Bad Request", BAD_REQUEST)
        self.transport.write(response)
        self.transport.close()

    async def send(self, message: ASGISendEvent) -> None:
        closing = message["type"] == "websocket.close" and self.handshake_complete
        if closing and not self.close_sent:
            self.writable.set()  # nothing is sent after a close frame, so flow control is moot
        await super().send(message)
        if closing and self.close_sent:
            self._abort_if_stuck_later()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self._abort_if_stuck_later()

    def _abort_if_stuck_later(self) -> None:
        delay = self.ping_timeout if self.ping_timeout else self.close_timeout
        self.loop.call_later(delay, self._abort_if_stuck)

    def _abort_if_stuck(self) -> None:
        if self.disconnected or self.transport.get_write_buffer_size() == 0:
            return
        reset(self.transport)


def reset(transport: asyncio.Transport) -> None:
    """Drop a connection whose peer does not read, with a TCP reset.

    Reset rather than close: a plain close would leave the kernel an orphan socket trying to
    deliver megabytes to a peer that never reads.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()


def release_handshake(send: Send) -> None:
    """Once ``send`` has accepted the socket, let uvicorn's sans-I/O protocol (what uvicorn
    picks by default, and :class:`LimitedWebSocketProtocol`) drop the handshake's request
    and response.

    uvicorn 0.54 reads them only until the handshake is complete, and keeps them until the
    connection ends: on a thousand sockets that connect at once, dropping them before the
    connections are admitted lets admission reuse that memory. With another server, another
    protocol, or a middleware that wraps ``send``, this does nothing.
    """
    protocol = getattr(send, "__self__", None)
    if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.handshake_complete:
        # Assigned, not deleted: deleting an instance's attribute makes every attribute
        # access on it slower, and uvicorn reads a dozen per frame.
        protocol.request = None  # type: ignore[assignment]
        protocol.response = None  # type: ignore[assignment]
