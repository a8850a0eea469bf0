"""Who may open ``/ws``, whatever runtime serves it: query, origin, token or ticket, limits.

:func:`admit` turns an upgrade request, already accepted at the WebSocket level, into a
session for its user (protocol v1's :class:`DeliverySession`, or v2's :class:`StreamSession`
with ``v=2``), or raises :class:`Refused` with the close code. Runtimes accept the socket
before calling it, so that browsers can read the close code, then give the session its
connection with :func:`connection_for`.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from delivery.actions import (
    CLOSE_BAD_QUERY,
    CLOSE_REVOKED,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
)
from delivery.auth import AuthFailed, Principal, TokenRevoked
from delivery.connection import Connection, FrameSocket
from delivery.frames import BadQuery, parse_device, parse_since
from delivery.frames_v2 import parse_version
from delivery.limits import SessionLimits
from delivery.node import DeliveryNode
from delivery.rate_limits import Budget
from delivery.session import DeliverySession
from delivery.stream_connection import StreamConnection
from delivery.stream_session import StreamSession
from foundation.errors import StoreError


class Refused(Exception):
    """Close the socket with ``code`` before the session starts."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What admission reads of an upgrade request: its query and two headers."""

    query: dict[str, str]
    origin: str | None
    authorization: str | None

    @classmethod
    def parse(cls, query_string: str, header: Callable[[str], str | None]) -> "Upgrade":
        """From the raw query string (the last value of a repeated parameter wins, as in
        Starlette) and a lookup of the first value of a lower-case header name."""
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        return cls(query, header("origin"), header("authorization"))


def first_header(headers: Iterable[tuple[bytes, bytes]]) -> Callable[[str], str | None]:
    """A lookup of the first value of each header, from ASGI's raw ``(name, value)`` list."""
    found: dict[str, str] = {}
    for name, value in headers:
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found.get


async def admit(upgrade: Upgrade, node: DeliveryNode) -> tuple[DeliverySession, Principal]:
    """The session of an accepted upgrade request; raises :class:`Refused` (4400 bad query,
    4401 credentials, 4403 origin or revoked token, 4429 too many connections)."""
    settings = node.settings
    try:
        since = parse_since(upgrade.query.get("since"))
        device = parse_device(upgrade.query.get("device"))
        version = parse_version(upgrade.query.get("v"))
    except BadQuery as error:
        raise Refused(CLOSE_BAD_QUERY, error.code) from None
    origin = upgrade.origin
    if settings.allowed_origins and origin is not None and origin not in settings.allowed_origins:
        raise Refused(CLOSE_REVOKED, "origin not allowed")
    principal = await _authenticate(upgrade, node)
    if node.hub.connections_of(principal.user_id) >= settings.max_connections_per_user:
        raise Refused(CLOSE_TOO_MANY, "too many connections for this user")
    if await node.rate_limits.spend(Budget.CONNECT, principal.user_id) is not None:
        raise Refused(CLOSE_TOO_MANY, "too many new connections for this user")
    kind = StreamSession if version == 2 else DeliverySession
    session = kind(
        principal.user_id,
        device,
        since,
        expires_at=principal.expires_at + settings.jwt_leeway_seconds,
        limits=SessionLimits.from_settings(settings),
    )
    return session, principal


def connection_for(
    socket: FrameSocket, session: DeliverySession, node: DeliveryNode, principal: Principal
) -> Connection:
    """The connection that carries ``session`` over ``socket``: v2's for a stream session."""
    if isinstance(session, StreamSession):
        return StreamConnection(socket, session, node, principal)
    return Connection(socket, session, node, principal)


async def _authenticate(upgrade: Upgrade, node: DeliveryNode) -> Principal:
    ticket = upgrade.query.get("ticket")
    now = time.time()
    if ticket is not None:
        try:
            principal = await node.tickets.redeem(ticket)
        except StoreError:
            raise Refused(CLOSE_UNAUTHORIZED, "ticket store unavailable") from None
        if principal is None or principal.expires_at + node.settings.jwt_leeway_seconds <= now:
            raise Refused(CLOSE_UNAUTHORIZED, "ticket invalid, used or expired")
        return principal
    token = upgrade.query.get("token") or _bearer(upgrade.authorization)
    if not token:
        raise Refused(CLOSE_UNAUTHORIZED, "token_missing")
    try:
        return await node.verifier.verify(token, now)
    except AuthFailed as error:
        raise Refused(CLOSE_UNAUTHORIZED, error.code) from None
    except TokenRevoked:
        raise Refused(CLOSE_REVOKED, "token_revoked") from None


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
