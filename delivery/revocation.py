"""Revocation that reaches open sockets, on every node.

A token is checked by the host's revocation hook when a connection opens and on every
refresh. Two things reach connections that are already open:

- :func:`revoke`: the host calls it after bumping the user's ``token_version`` (or however it
  revokes). It closes the user's connections on this node at once and publishes the user id
  on ``REVOKE_CHANNEL``, where every node's hub does the same within a round trip;
- :func:`sweep_revocations`: every ``TIDINGS_REVOCATION_INTERVAL_SECONDS`` each node asks the
  hook again about every open connection, so a revocation the host did not announce (or whose
  message was lost with Redis) still closes the socket.
"""

import asyncio
import logging
from typing import NoReturn

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from delivery.auth import TokenVerifier
from delivery.hub import LiveHub
from foundation.constants import REVOKE_CHANNEL
from foundation.errors import SignalUnavailable

log = logging.getLogger(__name__)


async def revoke(redis: aioredis.Redis, user_id: str, *, hub: LiveHub | None = None) -> None:
    """Close every open connection of ``user_id`` with 4403, on every node.

    Connections on ``hub`` (this process's node, if it runs one) close at once; the others
    when their node receives the message. Raises ``SignalUnavailable`` when Redis did not take
    the message (other nodes then close them at their next revocation sweep).
    """
    if hub is not None:
        hub.revoke(user_id)
    try:
        await redis.publish(REVOKE_CHANNEL, user_id.encode())
    except (RedisError, OSError) as error:
        raise SignalUnavailable(f"revocation not published: {type(error).__name__}") from error


async def sweep_revocations(hub: LiveHub, verifier: TokenVerifier, interval: float) -> NoReturn:
    """Every ``interval`` seconds, close the open connections whose token the hook revokes.

    A hook that raises is logged (once per sweep) and the connection is left open: the check
    runs again at the next sweep, and at the connection's next refresh.
    """
    while True:
        await asyncio.sleep(interval)  # the sweep period
        failed = 0
        for listener in hub.listeners():
            try:
                revoked = await verifier.is_revoked(listener.principal)
            except Exception:
                failed += 1
                continue
            if revoked:
                listener.on_revoked()
        if failed:
            log.warning("the revocation check raised for %d connections; kept open", failed)
