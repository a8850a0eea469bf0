"""The socket under the client: a small interface, and its implementation on ``websockets``.

The client only needs to receive text frames, send text frames and close with a code; a
test double implementing :class:`Transport` stands in for a server.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed

from .closes import CLOSE_ABNORMAL


class TransportClosed(Exception):
    """The socket is closed; ``code`` is the peer's close code (1006 when none was received)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"closed with {code} {reason}".strip())
        self.code = code
        self.reason = reason


class Transport(Protocol):
    async def recv(self) -> str:
        """The next text frame; raises :class:`TransportClosed` once the socket is closed."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame; raises :class:`TransportClosed` when the socket is closed."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``; pending and later :meth:`recv` calls raise."""
        ...


Connect = Callable[[str, Mapping[str, str]], Awaitable[Transport]]
"""Opens a socket to a URL with extra request headers."""


class WebsocketsTransport:
    """:class:`Transport` over a ``websockets`` client connection."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    async def recv(self) -> str:
        while True:
            try:
                message = await self._connection.recv()
            except ConnectionClosed as closed:
                received = closed.rcvd
                code = received.code if received is not None else CLOSE_ABNORMAL
                raise TransportClosed(code, received.reason if received else "") from None
            if isinstance(message, str):
                return message
            # Binary frames are not part of the protocol: skip them.

    async def send(self, text: str) -> None:
        try:
            await self._connection.send(text)
        except ConnectionClosed as closed:
            raise TransportClosed(closed.rcvd.code if closed.rcvd else CLOSE_ABNORMAL) from None

    async def close(self, code: int, reason: str) -> None:
        await self._connection.close(code, reason)


def websockets_connector(open_timeout: float = 10.0) -> Connect:
    """A :data:`Connect` using ``websockets`` (proxies from the environment, as it does)."""

    async def connect(url: str, headers: Mapping[str, str]) -> Transport:
        connection = await websockets_connect(
            url, additional_headers=dict(headers), open_timeout=open_timeout, close_timeout=2
        )
        return WebsocketsTransport(connection)

    return connect
