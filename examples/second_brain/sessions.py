"""Sessions of the example app: which tokens are still good, and ending the others.

A user's tokens carry a ``token_version`` claim; a password change bumps the user's version,
which revokes every token issued before. tidings asks :func:`token_is_revoked` (through the
``revocation_check`` the app passes to ``Tidings``) whenever a token is presented: a
WebSocket connecting with ``?token=`` (refused with close code 4403), ``POST /ws/ticket`` and
every REST call (403 ``token_revoked``), a ``refresh`` frame, and at each revocation sweep.

Sockets that are already open are ended by :func:`end_other_sessions` (``Tidings.revoke``),
once the ``password_changed`` notification has reached them (:func:`other_sessions_ended`):
the other sessions' pages show it, then their sockets close with 4403.
"""

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final

from examples.second_brain.ports import Repository
from outbox.records import InboxEntry, Notification
from tidings import Principal, SignalUnavailable, Tidings

# How long a password change waits for its notification to reach the user's sockets before
# it ends them anyway: routing takes milliseconds when the worker is up.
DELIVERY_WAIT_SECONDS: Final = 2.0

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
    """Close every open socket of ``username`` with 4403, on every delivery node (the user's
    tokens were revoked a moment ago). The page of each says its session ended.

    Every socket of the user is closed, whatever its token: the acting session's page closes
    its own socket before the change and reconnects with its fresh token only after the
    answer, which comes after this. When Redis does not take the message, this node's
    sockets are closed anyway and the others at their node's next revocation sweep.
    """
    try:
        await notifications.revoke(username)
    except SignalUnavailable:
        log.warning("revocation not published; other nodes close at their next sweep")


class _Reached:
    """Listens on this node's live hub to one user's stream, as the user's connections do,
    and notes which notifications reached them.

    The hub hands each batch to every listener of the user in one synchronous call, so once
    this one has a notification, every socket of the user on this node has it queued; a
    socket closed after that sends it first. Registered only for the length of one change.
    """

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        # The periodic revocation sweep asks the check about every listener: this one has no
        # token, is refused, and ignores being revoked.
        self.principal = Principal(user_id, math.inf, {})
        self._seen: set[str] = set()
        self._wanted: str | None = None
        self._done = asyncio.Event()

    def expect(self, notification_id: str) -> None:
        """Wait for ``notification_id`` (it may have arrived already)."""
        self._wanted = notification_id
        if notification_id in self._seen:
            self._done.set()

    async def wait(self, timeout: float) -> bool:
        """True once the expected notification arrived, False after ``timeout`` or when
        nothing is expected; also returns when live signals were lost (the node resyncs
        its sockets from the store, so waiting longer proves nothing)."""
        if self._wanted is None:
            return False
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            return False
        return self._wanted in self._seen

    def on_entries(self, entries: Sequence[InboxEntry]) -> None:
        self._seen.update(entry.notification.id for entry in entries)
        if self._wanted in self._seen:
            self._done.set()

    def on_broadcast(self, notification: Notification) -> None:
        pass

    def on_resync(self) -> None:
        self._done.set()

    def shut_down(self) -> None:
        self._done.set()

    def on_revoked(self) -> None:
        pass


@contextlib.asynccontextmanager
async def other_sessions_ended(
    notifications: Tidings, username: str
) -> AsyncIterator[Callable[[str], None]]:
    """Around a change that revokes every token of ``username`` and tells its sessions so:
    once the block is done, wait until that notification has reached the user's sockets on
    this node (at most :data:`DELIVERY_WAIT_SECONDS`), then :func:`end_other_sessions`.

    Call the function the block gets with the notification's id once the change committed.
    Nothing is ended when the block raises. Other nodes close their sockets after the
    notification too: they receive the revocation after the routed batch this node saw, in
    the order Redis took them.
    """
    hub = notifications.node.hub
    reached = _Reached(username)
    hub.add(reached)  # before the commit: the batch may be routed before the block ends
    try:
        yield reached.expect
        if not await reached.wait(DELIVERY_WAIT_SECONDS):
            log.info("ending the sessions before their notification reached them")
    finally:
        hub.remove(reached)
    await end_other_sessions(notifications, username)
