"""Sessions of the example app: which tokens are still good, and ending the others.

A user's tokens carry a ``token_version`` claim; a password change bumps the user's version,
which revokes every token issued before. tidings asks :func:`token_is_revoked` (through the
``revocation_check`` the app passes to ``Tidings``) whenever a token is presented: a
WebSocket connecting with ``?token=`` (refused with close code 4403), ``POST /ws/ticket`` and
every REST call (403 ``token_revoked``), and a ``refresh`` frame.
"""

import logging
from collections.abc import Awaitable, Callable

from examples.second_brain.ports import Repository
from tidings import Principal, Tidings

log = logging.getLogger(__name__)


async def token_is_revoked(repository: Repository, principal: Principal) -> bool:
    """True unless the token's integer ``token_version`` claim is the user's current one
    (so a token without the claim, or of a user the app does not know, is refused)."""
    claim = principal.claims.get("token_version")
    if isinstance(claim, bool) or not isinstance(claim, int):
        return True
    current = await repository.token_version(principal.user_id)
    return current is None or claim != current


def revocation_check(
    repository: Callable[[], Repository],
) -> Callable[[Principal], Awaitable[bool]]:
    """:func:`token_is_revoked` on the repository ``repository()`` returns when it is asked
    (the app opens its repository once tidings, which holds the check, is up)."""

    async def check(principal: Principal) -> bool:
        return await token_is_revoked(repository(), principal)

    return check


async def end_other_sessions(notifications: Tidings, username: str) -> None:
    """End the sessions of ``username`` whose tokens were revoked a moment ago (by a password
    change), on every delivery node: their open sockets are closed with 4403.

    Not possible yet: tidings checks revocation when a socket connects, buys a ticket, calls
    REST or refreshes its token, so an open socket of a revoked session stays open until one
    of those (and is refused then). A server-side close is being added to tidings; this is
    the one place that will call it, with ``notifications``. The acting
    session is not affected: its page closes its socket before the change and reconnects with
    its fresh token after it, so every socket left on an older token is one to end.
    """
    log.info("tokens revoked; the other sessions end when they next present one")
