"""Single-use, short-lived WebSocket tickets, kept in the broker (Redis, or this process).

A ticket lets a browser open ``/ws?ticket=T`` without putting its JWT in a URL (where proxy
and access logs would keep it). The broker holds only the SHA-256 of each ticket, so a Redis
dump or ``MONITOR`` session yields nothing that can be redeemed.
"""

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any, Final

from broker import Broker
from delivery.auth import Principal
from foundation.constants import TICKET_KEY_PREFIX
from foundation.errors import SignalUnavailable, TicketStoreUnavailable

TICKET_BYTES: Final = 32
# token_urlsafe(32) yields 43 characters; anything far from that is not one of ours.
_TICKET_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")


class TicketStore:
    """Issues and redeems tickets; each ticket can be redeemed at most once.

    Broker failures raise :class:`TicketStoreUnavailable`, whether Redis is unreachable or
    refuses the command (out of memory, a read-only replica).
    """

    def __init__(self, broker: Broker, ttl_seconds: int) -> None:
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1")
        self._broker = broker
        self._ttl_seconds = ttl_seconds

    async def issue(self, principal: Principal, *, now: float | None = None) -> str:
        """Store ``principal`` under a fresh ticket and return the ticket.

        The ticket lives ``ttl_seconds``, or less when the token expires sooner (``now``
        defaults to the wall clock), so a ticket never outlives its token by more than 1 s.
        """
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        ttl = self._ttl_for(principal, time.time() if now is None else now)
        async with _broker_errors():
            await self._broker.put(_key(ticket), _encode(principal).encode(), ttl)
        return ticket

    async def redeem(self, ticket: str) -> Principal | None:
        """Return the ticket's principal and forget the ticket, atomically (GETDEL).

        None when the ticket is unknown, already redeemed, expired or malformed; malformed
        input never reaches Redis. The caller still checks ``principal.expires_at``.
        """
        if not _TICKET_SHAPE.fullmatch(ticket):
            return None
        async with _broker_errors():
            raw = await self._broker.take(_key(ticket))
        return None if raw is None else _decode(raw)

    def _ttl_for(self, principal: Principal, now: float) -> int:
        remaining = math.ceil(principal.expires_at - now)
        return max(1, min(self._ttl_seconds, remaining))


def _key(ticket: str) -> str:
    return TICKET_KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


def _encode(principal: Principal) -> str:
    return json.dumps(
        {
            "user_id": principal.user_id,
            "expires_at": principal.expires_at,
            "claims": dict(principal.claims),
        },
        separators=(",", ":"),
    )


def _decode(raw: bytes | str) -> Principal | None:
    """The stored principal, or None when the value is not one we wrote (fail closed)."""
    try:
        value: Any = json.loads(raw)
        user_id, expires_at, claims = value["user_id"], value["expires_at"], value["claims"]
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(user_id, str) and isinstance(expires_at, int | float)):
        return None
    if not isinstance(claims, dict):
        return None
    return Principal(user_id, float(expires_at), MappingProxyType(claims))


@asynccontextmanager
async def _broker_errors() -> AsyncIterator[None]:
    """The broker's failures, as the ticket store's own."""
    try:
        yield
    except SignalUnavailable as error:
        raise TicketStoreUnavailable(f"the ticket store is unavailable: {error}") from error
