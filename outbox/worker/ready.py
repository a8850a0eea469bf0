"""A routing round in one trip to the store, for stores that offer it.

Most records name their users (``Users``) or everyone (``Everyone``): their recipients are
known without asking a resolver, so a store whose operations run on a thread of their own
(the embedded store) can claim and append them in one call there, instead of one call to
claim, a return to the event loop to resolve, and another call to append. Each trip costs
a thread hand-off both ways, which at one record per round was the larger part of a round.

:func:`route_ready` routes that way the records at the head of the claim whose recipients
are known; a record that needs a resolver (``Group``) ends the prefix, and the rest of the
round goes through :func:`outbox.routing.route_once` as before, so claim order and every
failure rule stay those of the general round.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from foundation.constants import NOTIFY
from outbox.port import OutboxStore
from outbox.records import Everyone, Notification, OutboxRecord, Route, Users
from outbox.resolvers import Resolvers
from outbox.routing import RoutedBatch, RoutingPolicy, route_once
from outbox.stream import Appended


@runtime_checkable
class ClaimsAndAppends(Protocol):
    """A store that claims and appends in one call (see the embedded store's)."""

    async def claim_and_append(
        self,
        owner: str,
        now: datetime,
        lease_seconds: float,
        limit: int,
        resolve: Callable[[OutboxRecord], tuple[str, ...] | None],
    ) -> tuple[list[OutboxRecord], list[Route], Appended]: ...


def known_recipients(record: OutboxRecord) -> tuple[str, ...] | None:
    """The recipients of ``record`` when no resolver is needed, as
    :meth:`outbox.resolvers.Resolvers.resolve` gives them; ``None`` for a ``Group``."""
    audience = record.audience
    if type(audience) is Users:
        ids = audience.ids
        return ids if len(ids) == 1 else tuple(dict.fromkeys(ids))
    if isinstance(audience, Users):
        return tuple(dict.fromkeys(audience.ids))
    if isinstance(audience, Everyone):
        return ()
    return None


def _broadcasts(routes: list[Route]) -> tuple[Notification, ...]:
    return tuple(
        route.record.notification()
        for route in routes
        if isinstance(route.record.audience, Everyone) and route.record.kind == NOTIFY
    )


async def route_ready(
    store: OutboxStore,
    resolvers: Resolvers,
    *,
    owner: str,
    now: datetime,
    policy: RoutingPolicy,
) -> RoutedBatch:
    """One routing round, as :func:`outbox.routing.route_once` does it (same arguments,
    result and errors), in one store call when the store :class:`ClaimsAndAppends` and the
    claimed records need no resolver."""
    if not isinstance(store, ClaimsAndAppends):
        return await route_once(store, resolvers, owner=owner, now=now, policy=policy)
    records, routes, appended = await store.claim_and_append(
        owner, now, policy.lease_seconds, policy.batch_size, known_recipients
    )
    ready = RoutedBatch(
        len(routes),
        len(routes),
        tuple(appended.entries),
        _broadcasts(routes),
        0,
        tuple(appended.stream),
    )
    if len(routes) == len(records):
        return ready
    # A record that needs a resolver heads what is left: the general round from there.
    rest = await route_once(store, resolvers, owner=owner, now=now, policy=policy)
    return RoutedBatch(
        ready.claimed + rest.claimed,
        ready.routed + rest.routed,
        ready.entries + rest.entries,
        ready.broadcasts + rest.broadcasts,
        rest.failed,
        ready.stream + rest.stream,
    )
