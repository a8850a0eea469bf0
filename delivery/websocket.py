"""``GET /ws``: authenticate, check limits, then hand the socket to a :class:`Connection`.

The socket is accepted before any refusal so that browsers can read the close code.
"""

import logging
import time

from fastapi import APIRouter, WebSocket

from delivery.actions import (
    CLOSE_BAD_QUERY,
    CLOSE_REVOKED,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
)
from delivery.auth import AuthFailed, Principal, TokenRevoked
from delivery.connection import Connection
from delivery.frames import BadQuery, parse_device, parse_since
from delivery.limits import SessionLimits
from delivery.node import DeliveryNode
from delivery.rate_limits import Budget
from delivery.session import (
    DeliverySession,
)
from foundation.errors import StoreError

log = logging.getLogger(__name__)

router = APIRouter()


class Refused(Exception):
    """Close the socket with ``code`` before the session starts."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    """Protocol v1: welcome, replay after ``since``, ``caught_up``, then live."""
    node: DeliveryNode = websocket.app.state.delivery_node
    await websocket.accept()
    try:
        session, principal = await _start_session(websocket, node)
    except Refused as refused:
        node.metrics.closes.labels(str(refused.code)).inc()
        await websocket.close(refused.code, refused.reason)
        return
    await Connection(websocket, session, node, principal).run()


async def _start_session(
    websocket: WebSocket, node: DeliveryNode
) -> tuple[DeliverySession, Principal]:
    settings = node.settings
    query = websocket.query_params
    try:
        since = parse_since(query.get("since"))
        device = parse_device(query.get("device"))
    except BadQuery as error:
        raise Refused(CLOSE_BAD_QUERY, error.code) from None
    origin = websocket.headers.get("origin")
    if settings.allowed_origins and origin is not None and origin not in settings.allowed_origins:
        raise Refused(CLOSE_REVOKED, "origin not allowed")
    principal = await _authenticate(websocket, node)
    if node.hub.connections_of(principal.user_id) >= settings.max_connections_per_user:
        raise Refused(CLOSE_TOO_MANY, "too many connections for this user")
    if await node.rate_limits.spend(Budget.CONNECT, principal.user_id) is not None:
        raise Refused(CLOSE_TOO_MANY, "too many new connections for this user")
    session = DeliverySession(
        principal.user_id,
        device,
        since,
        expires_at=principal.expires_at + settings.jwt_leeway_seconds,
        limits=SessionLimits.from_settings(settings),
    )
    return session, principal


async def _authenticate(websocket: WebSocket, node: DeliveryNode) -> Principal:
    ticket = websocket.query_params.get("ticket")
    now = time.time()
    if ticket is not None:
        try:
            principal = await node.tickets.redeem(ticket)
        except StoreError:
            raise Refused(CLOSE_UNAUTHORIZED, "ticket store unavailable") from None
        if principal is None or principal.expires_at + node.settings.jwt_leeway_seconds <= now:
            raise Refused(CLOSE_UNAUTHORIZED, "ticket invalid, used or expired")
        return principal
    token = websocket.query_params.get("token") or _bearer(websocket)
    if not token:
        raise Refused(CLOSE_UNAUTHORIZED, "token_missing")
    try:
        return await node.verifier.verify(token, now)
    except AuthFailed as error:
        raise Refused(CLOSE_UNAUTHORIZED, error.code) from None
    except TokenRevoked:
        raise Refused(CLOSE_REVOKED, "token_revoked") from None


def _bearer(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
