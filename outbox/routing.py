"""One routing round: claim pending records, resolve their audiences, append to inboxes.

This is the only place that decides what a claimed record becomes. It holds no state between
rounds; the worker's router (``outbox.worker.router``) calls it repeatedly under the single
routing lease.
"""

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from foundation.constants import NOTIFY
from foundation.settings import Settings
from outbox.port import OutboxStore
from outbox.records import Everyone, InboxEntry, Notification, OutboxRecord, Route
from outbox.resolvers import Resolvers
from outbox.retry import retry_at
from outbox.stream import Appended, StreamItem

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500
# Resolver errors are the host application's text; a connection string in one must not end
# up in the outbox, where operators list dead records.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^/@\s]+@")


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """How rounds claim, resolve and retry.

    ``batch_size`` records at most per round, under a lease of ``lease_seconds``; a failed
    record is retried with backoff from ``retry_base_seconds`` up to ``retry_max_seconds``
    and is dead after ``max_attempts`` attempts in total. With ``resolve_budget_seconds``,
    resolution stops once that much time has passed in a round and the rest stay pending for
    the next one (keep it below the lease).
    """

    batch_size: int
    lease_seconds: float
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    resolve_budget_seconds: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The worker's policy: the settings' values, resolving for at most half a lease."""
        return cls(
            batch_size=settings.batch_size,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
            resolve_budget_seconds=settings.lease_seconds / 2,
        )


@dataclass(frozen=True, slots=True)
class RoutedBatch:
    """What one round did.

    ``claimed`` records were claimed; ``routed`` of them were appended (their ``entries``
    created, ``broadcasts`` for ``Everyone`` notifications, ``stream`` the protocol v2
    entries: one per entry, then the retract changes); ``failed`` were counted as failed
    attempts. Records claimed but left for the next round (see ``resolve_budget_seconds``)
    are in none of the last two counts.
    """

    claimed: int
    routed: int
    entries: tuple[InboxEntry, ...]
    broadcasts: tuple[Notification, ...]
    failed: int
    stream: tuple[StreamItem, ...] = ()


def describe_failure(error: BaseException) -> str:
    """A short, credential-free description of a resolver failure, kept on the record."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    return text[:MAX_ERROR_CHARS]


@dataclass(frozen=True, slots=True)
class _Resolved:
    routes: list[Route]
    failures: list[tuple[OutboxRecord, str]]

    def broadcasts(self) -> tuple[Notification, ...]:
        """Notifications of the ``Everyone`` records among the routes (not retractions)."""
        return tuple(
            route.record.notification()
            for route in self.routes
            if isinstance(route.record.audience, Everyone) and route.record.kind == NOTIFY
        )


async def _resolve_prefix(
    records: Sequence[OutboxRecord], resolvers: Resolvers, budget_seconds: float | None
) -> _Resolved:
    """Resolve records in claim order until the budget is spent (at least one record).

    Stopping at a prefix keeps claim order for whatever is appended this round.
    """
    started = time.monotonic()
    resolved = _Resolved([], [])
    for index, record in enumerate(records):
        if index and budget_seconds is not None and time.monotonic() - started > budget_seconds:
            break
        try:
            recipients = await resolvers.resolve(record.audience)
        except Exception as error:
            resolved.failures.append((record, describe_failure(error)))
            continue
        resolved.routes.append(Route(record, recipients))
    return resolved


async def route_once(
    store: OutboxStore,
    resolvers: Resolvers,
    *,
    owner: str,
    now: datetime,
    policy: RoutingPolicy,
) -> RoutedBatch:
    """Claim up to ``policy.batch_size`` records as ``owner`` and route them.

    Records whose audience resolves are appended to inboxes in one store transaction, in
    claim order. A record whose resolution raises (``UnknownGroup``, a resolver error) is not
    appended: its failure is recorded with the next attempt time from
    :func:`outbox.retry.retry_at`, or as dead after ``policy.max_attempts`` attempts in total.

    Raises ``LeaseLost`` (nothing of the round written, or, when the lease is lost between
    the append and a failure, the failures from there on not recorded) when another owner
    took the lease, and ``StoreError`` when the store fails.
    """
    records = await store.claim_batch(owner, now, policy.lease_seconds, policy.batch_size)
    if not records:
        return RoutedBatch(0, 0, (), (), 0)
    resolved = await _resolve_prefix(records, resolvers, policy.resolve_budget_seconds)
    appended = (
        await store.append_routes(owner, now, resolved.routes)
        if resolved.routes
        else Appended([], [])
    )
    for record, error in resolved.failures:
        when = retry_at(
            record.attempts,
            now,
            max_attempts=policy.max_attempts,
            base_seconds=policy.retry_base_seconds,
            max_seconds=policy.retry_max_seconds,
        )
        await _record_failure(store, owner, now, record, error, when)
    counts = (len(records), len(resolved.routes))
    return RoutedBatch(
        *counts,
        tuple(appended.entries),
        resolved.broadcasts(),
        len(resolved.failures),
        tuple(appended.stream),
    )


async def _record_failure(
    store: OutboxStore,
    owner: str,
    now: datetime,
    record: OutboxRecord,
    error: str,
    when: datetime | None,
) -> None:
    fate = "dead" if when is None else f"retry at {when.isoformat()}"
    log.warning("routing record %s failed (%s): %s", record.id, fate, error)
    await store.record_failure(owner, now, record.id, error, when)
