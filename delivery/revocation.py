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

from broker import Broker
from delivery.auth import TokenVerifier
from delivery.hub import LiveHub
from foundation.constants import REVOKE_CHANNEL

log = logging.getLogger(__name__)


async def close_revoked(hub: LiveHub, verifier: TokenVerifier, user_id: str) -> None:
    """Close with 4403 the connections of ``user_id`` on this node whose token the host's
    check now refuses: all of them when no check is installed, or when the check raises
    (the host asked for the revocation: failing closed is the safe side)."""
    for listener in hub.listeners_of(user_id):
        try:
            revoked = not verifier.checks_revocation or await verifier.is_revoked(
                listener.principal
            )
        except Exception:
            log.warning("the revocation check raised during a revocation; closing anyway")
            revoked = True
        if revoked:
            listener.on_revoked()


async def revoke(
    broker: Broker,
    user_id: str,
    *,
    hub: LiveHub | None = None,
    verifier: TokenVerifier | None = None,
) -> None:
    """Close the open connections of ``user_id`` whose token is revoked, on every node, 4403.

    With a revocation check installed, only the connections whose token it refuses close (a
    session that already holds a fresh token stays); without one, all of them. Connections on
    ``hub`` (this process's node, if it runs one, with its ``verifier``) are checked at once;
    the others when their node receives the message. Raises ``SignalUnavailable`` when Redis
    did not take the message (other nodes then close them at their next revocation sweep).
    """
    if hub is not None and verifier is not None:
        await close_revoked(hub, verifier, user_id)
    await broker.publish(REVOKE_CHANNEL, [user_id.encode()])


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
