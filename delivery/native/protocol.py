"""``tidings serve``'s own WebSocket runtime: ``/ws`` carried without ASGI.

uvicorn serves HTTP (REST, probes and ``/metrics`` through the ASGI app) and hands each
WebSocket upgrade request's TCP connection to a protocol class; for the standalone server
that is :class:`NativeWebSocket` (:func:`native_protocol`). It answers the handshake with
websockets' sans-I/O ``ServerProtocol`` and carries the connection itself, as an
``asyncio.Protocol`` driven by callbacks:

- frames go straight to the transport, the frames of one batch in one write, framed here
  (an unmasked server text frame is a 2-10 byte header; websockets frames them when an
  extension such as permessage-deflate was negotiated);
- client frames are parsed by websockets (masking, fragments, control frames, size limit);
- pings and the pong deadline are on the node's timer wheel, like token expiry;
- a close frame is written even while the transport is paused, and a client that has not
  taken it ``ws_ping_timeout`` seconds later is reset, as in :mod:`delivery.transport`.

Per connection this keeps one protocol object, websockets' frame parser (the handshake's
request and its headers are dropped once answered), the :class:`Connection` and its session:
no task while idle, no queue, no ASGI scope or middleware frames.
"""

import asyncio
import logging
import os
import random
from typing import Any, ClassVar, cast

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.exceptions import SecurityError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from delivery.actions import CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR
from delivery.admission import Refused, Upgrade, admit, connection_for
from delivery.connection import CLOSE_ABNORMAL, Connection
from delivery.native.wire import (
    BAD_REQUEST_RESPONSE,
    CLOSE_INVALID_DATA,
    HEAD_TOO_LARGE_RESPONSE,
    NOT_FOUND,
    WS_PATH,
    extensions,
    text_frame,
)
from delivery.node import DeliveryNode
from delivery.transport import MAX_HEADER_BYTES, head_size, reset

log = logging.getLogger(__name__)
access_log = logging.getLogger("uvicorn.error")  # where uvicorn logs WebSocket requests
# websockets logs every connection's opening and closing at INFO; the node logs its own line.
protocol_log = logging.getLogger("delivery.native.websocket")
protocol_log.setLevel(logging.WARNING)


def native_protocol(app: Any) -> type["NativeWebSocket"]:
    """The protocol class to give uvicorn as ``ws``, serving the node of ``app``'s state."""

    class Bound(NativeWebSocket):
        __slots__ = ()
        served_app = app

    return Bound


class NativeWebSocket(asyncio.Protocol):
    """One WebSocket connection, from the upgrade request uvicorn parsed to its end."""

    served_app: ClassVar[Any] = None

    __slots__ = (
        "_admission",
        "_closing",
        "_config",
        "_connection",
        "_fragmented",
        "_fragments",
        "_next_ping",
        "_node",
        "_paused",
        "_ping",
        "_plain",
        "_server_state",
        "_transport",
        "_ws",
    )

    def __init__(self, config: Config, server_state: ServerState, app_state: Any = None) -> None:
        self._config = config
        self._server_state = server_state
        self._transport: asyncio.Transport | None = None
        self._ws = ServerProtocol(
            extensions=extensions(config), max_size=config.ws_max_size, logger=protocol_log
        )
        self._node: DeliveryNode | None = None
        self._connection: Connection | None = None
        self._admission: asyncio.Task[None] | None = None
        self._paused = False
        self._plain = True  # no extension: frames are framed here
        self._fragments: list[bytes] | None = None  # a fragmented message so far
        self._fragmented = Opcode.TEXT  # and its kind
        self._ping: bytes | None = None  # the payload of the ping awaiting its pong
        self._next_ping = 0.0  # or, with a ping out, when its pong is due
        self._closing = 0.0  # when closing: when to give up on the client

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self._server_state.connections.add(self)  # type: ignore[arg-type]  # uvicorn's set

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        if ws.state is State.CONNECTING:
            self._handshake()
        else:
            self._receive()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._flush_protocol()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._server_state.connections.discard(self)
        if self._admission is not None:
            self._admission.cancel()
        if self._node is not None:
            self._node.timers.cancel(self)
        if self._connection is not None:
            received = self._ws.close_rcvd
            self._connection.on_socket_closed(received.code if received else CLOSE_ABNORMAL)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._connection is not None:
            self._connection.on_drained()

    def shutdown(self) -> None:
        """uvicorn is stopping: close with 1001 (the node has asked every connection to
        close already; this is for those still in their handshake)."""
        if self._connection is not None and not self._connection.ended:
            self._connection.shut_down()
        elif self._ws.state is State.OPEN:
            self.close(CLOSE_GOING_AWAY, "server going away", drop_pending=True)
        if self._transport is not None:
            self._transport.close()

    # FrameSocket

    @property
    def stalled(self) -> bool:
        return self._paused

    def send_frames(self, frames: Any) -> None:
        transport = self._transport
        assert transport is not None
        if self._plain:
            if len(frames) == 1:
                transport.write(text_frame(frames[0].encode()))
            else:
                transport.write(b"".join([text_frame(text.encode()) for text in frames]))
            return
        ws = self._ws
        for text in frames:
            ws.send_text(text.encode())
        transport.write(b"".join(ws.data_to_send()))

    def close(self, code: int, reason: str, *, drop_pending: bool) -> None:
        # The frames written before are in the transport already: the close frame follows
        # them whatever ``drop_pending`` says, and is written even while paused.
        if self._ws.state is State.OPEN:
            self._ws.send_close(code, reason)
            self._flush_protocol()
        self._start_closing()

    # Timed: keepalive and the closing deadline, on the node's wheel.

    def on_timer(self, now: float) -> float | None:
        transport = self._transport
        if transport is None or (transport.is_closing() and not self._closing):
            return None
        if self._closing:
            if now < self._closing:
                return self._closing
            self._give_up()
            return None
        if self._ping is not None:
            if now < self._next_ping:
                return self._next_ping
            self._keepalive_timeout()
            return self._closing or None
        if now < self._next_ping:
            return self._next_ping
        self._ping = os.urandom(4)
        self._ws.send_ping(self._ping)
        self._flush_protocol()
        self._next_ping = now + self._ping_timeout()  # when its pong is due
        return self._next_ping

    # The opening handshake.

    def _handshake(self) -> None:
        ws = self._ws
        events = ws.events_received()
        if ws.handshake_exc is not None or not events:
            if ws.handshake_exc is not None:
                self._refuse_request(isinstance(ws.handshake_exc, SecurityError))
            return
        request = events[0]
        assert isinstance(request, Request)
        if head_size("GET", len(request.path), request.headers.raw_items()) > MAX_HEADER_BYTES:
            self._refuse_request(too_large=True)
            return
        path, _, query = request.path.partition("?")
        if path != WS_PATH:
            self._answer(NOT_FOUND, request.path, "404")
            return
        response = ws.accept(request)
        ws.send_response(response)
        self._flush_protocol()
        if response.status_code != 101:
            self._log(request.path, str(response.status_code))
            self._close_transport()
            return
        self._log(request.path, "[accepted]")
        frames = ServerProtocol(
            state=State.OPEN, max_size=self._config.ws_max_size, logger=protocol_log
        )
        frames.extensions = ws.extensions
        self._plain = not ws.extensions
        self._ws = frames  # the request and its headers go with the handshake's protocol
        self._node = self.served_app.state.delivery_node
        upgrade = Upgrade.parse(query, lambda name: next(iter(request.headers.get_all(name)), None))
        assert self._transport is not None
        self._transport.pause_reading()  # client frames wait until the session exists
        self._admission = asyncio.get_running_loop().create_task(self._admit(upgrade))

    async def _admit(self, upgrade: Upgrade) -> None:
        node = self._node
        assert node is not None and self._transport is not None
        try:
            session, principal = await admit(upgrade, node)
        except Refused as refused:
            self._refuse(node, refused.code, refused.reason)
            return
        except Exception:
            log.exception("admitting a WebSocket failed; closing with 1011")
            self._refuse(node, CLOSE_INTERNAL_ERROR, "internal error")
            return
        finally:
            self._admission = None
        self._connection = connection_for(self, session, node, principal)
        self._connection.start()
        # The first ping comes after half to all of the interval: connections opened together
        # (a reconnect storm) are not all pinged in the same second ever after.
        self._next_ping = node.timers.now() + self._ping_interval() * random.uniform(0.5, 1.0)
        node.timers.schedule(self, self._next_ping)
        self._transport.resume_reading()

    def _refuse(self, node: DeliveryNode, code: int, reason: str) -> None:
        node.metrics.closes.labels(str(code)).inc()
        self.close(code, reason, drop_pending=True)
        assert self._transport is not None
        self._transport.resume_reading()  # for the client's answer, which ends the TCP connection

    def _refuse_request(self, too_large: bool) -> None:
        self._answer(HEAD_TOO_LARGE_RESPONSE if too_large else BAD_REQUEST_RESPONSE)

    def _answer(self, response: bytes, path: str | None = None, status: str = "") -> None:
        if path is not None:
            self._log(path, status)
        assert self._transport is not None
        self._transport.write(response)
        self._close_transport()

    def _log(self, path: str, outcome: str) -> None:
        if access_log.isEnabledFor(logging.INFO) and self._transport is not None:
            peer = self._transport.get_extra_info("peername")
            client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "-"
            access_log.info('%s - "WebSocket %s" %s', client, path, outcome)

    # Client frames.

    def _receive(self) -> None:
        ws = self._ws
        for event in ws.events_received():
            assert isinstance(event, Frame)
            opcode = event.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                self._data(event)
            elif opcode is Opcode.PONG and self._ping is not None and event.data == self._ping:
                self._ping = None
                assert self._node is not None
                self._next_ping = self._node.timers.now() + self._ping_interval()
        self._flush_protocol()  # pongs, the echo of a close frame
        ended_by = ws.close_rcvd if ws.close_rcvd is not None else ws.close_sent
        if ended_by is not None and self._connection is not None:
            # The client closed, or websockets failed the connection (a frame over the
            # size limit: 1009; a protocol error: 1002).
            self._connection.on_socket_closed(ended_by.code)
        if ws.close_expected():
            self._start_closing()

    def _data(self, frame: Frame) -> None:
        """A data frame: a whole message, or a fragment of one (websockets checks their
        order and the size of the whole)."""
        if frame.opcode is Opcode.CONT:
            if self._fragments is None:
                return
            self._fragments.append(bytes(frame.data))
            if not frame.fin:
                return
            kind, data = self._fragmented, b"".join(self._fragments)
            self._fragments = None
        elif not frame.fin:
            self._fragments, self._fragmented = [bytes(frame.data)], frame.opcode
            return
        else:
            kind, data = frame.opcode, bytes(frame.data)
        if self._connection is not None:
            self._message(self._connection, kind, data)

    def _message(self, connection: Connection, kind: Opcode, data: bytes) -> None:
        if kind is Opcode.BINARY:
            connection.on_binary()
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            self.close(CLOSE_INVALID_DATA, "invalid UTF-8", drop_pending=True)
            connection.on_socket_closed(CLOSE_INVALID_DATA)
            return
        connection.on_text(text)

    # Closing.

    def _flush_protocol(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._ws.data_to_send():
            if data:
                transport.write(data)
            else:  # the end of the stream: a server closes the TCP connection first
                self._close_transport()

    def _start_closing(self) -> None:
        if self._closing or self._node is None:
            return
        self._closing = self._node.timers.now() + self._ping_timeout()
        self._node.timers.schedule(self, self._closing)

    def _keepalive_timeout(self) -> None:
        self._ping = None
        if self._ws.state is State.OPEN:
            self._ws.fail(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
            self._flush_protocol()
        if self._connection is not None:
            self._connection.on_socket_closed(CLOSE_INTERNAL_ERROR)
        self._close_transport()
        self._start_closing()

    def _give_up(self) -> None:
        """The closing deadline passed: reset a socket whose client does not read, else
        close it (the client did not answer the close frame)."""
        transport = self._transport
        if transport is None:
            return
        if transport.get_write_buffer_size():
            reset(transport)
        else:
            transport.close()

    def _close_transport(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _ping_interval(self) -> float:
        return float(self._config.ws_ping_interval or 20.0)

    def _ping_timeout(self) -> float:
        return float(self._config.ws_ping_timeout or self._ping_interval())
