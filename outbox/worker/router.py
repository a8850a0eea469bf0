"""Routing for one process: serialized rounds under one owner id, safe to cancel."""

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from foundation.errors import LeaseLost, StoreError
from foundation.settings import Settings
from outbox.port import OutboxStore
from outbox.resolvers import Resolvers
from outbox.routing import RoutedBatch, RoutingPolicy
from outbox.worker.metrics import WorkerMetrics
from outbox.worker.outage import Outage, describe
from outbox.worker.publisher import LivePublisher
from outbox.worker.ready import route_ready

log = logging.getLogger(__name__)


def new_owner_id() -> str:
    """A lease owner id unique to this process: ``hostname:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Router:
    """Routes for one process: serialized rounds under one owner id.

    Every store operation runs in a task owned by the router, so a caller that is cancelled
    never interrupts a transaction; :meth:`close` waits for those tasks.
    """

    def __init__(
        self,
        store: OutboxStore,
        resolvers: Resolvers,
        settings: Settings,
        publisher: LivePublisher,
        *,
        owner: str | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.store = store
        self.owner = owner or new_owner_id()
        self._metrics = metrics
        self._resolvers = resolvers
        self._settings = settings
        self._policy = RoutingPolicy.from_settings(settings)
        self._publisher = publisher
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[int]] = set()
        self._stopping = False
        self._store_outage = Outage("store")

    async def _exclusive(self, work: Callable[[], Awaitable[int]]) -> int:
        task = asyncio.create_task(self._locked(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _locked(self, work: Callable[[], Awaitable[int]]) -> int:
        async with self._lock:
            return 0 if self._stopping else await work()

    async def drain(self) -> int:
        """Route batches until a claim finds less than a full batch, and routes (or fails)
        all of it; return the entries created.

        What was pending when that last claim read is then routed: records committed later
        are the next drain's, which their wake-up (or the sweep) starts, so a drain that
        keeps up with the host costs one claim per batch, not one more to find nothing.
        Stops early, without raising, when the store fails, when another worker holds or
        takes the lease, or when the router is stopping. Safe to cancel.
        """
        return await self._exclusive(self._drain)

    async def _drain(self) -> int:
        created = 0
        while not self._stopping:
            batch = await self._round()
            if batch is None:
                break
            created += len(batch.entries)
            finished = batch.routed + batch.failed == batch.claimed
            if batch.claimed < self._policy.batch_size and finished:
                break
        return created

    async def _round(self) -> RoutedBatch | None:
        now = datetime.now(UTC)
        try:
            batch = await route_ready(
                self.store, self._resolvers, owner=self.owner, now=now, policy=self._policy
            )
        except LeaseLost:
            log.info("routing lease taken over by another worker; yielding")
            return None
        except StoreError as error:
            self._store_outage.failed(error)
            return None
        self._store_outage.recovered()
        if self._metrics is not None:
            self._metrics.observe(batch, now)
        if batch.claimed:
            log.debug(
                "claimed %d, routed %d (%d entries, %d broadcasts), failed %d",
                batch.claimed,
                batch.routed,
                len(batch.entries),
                len(batch.broadcasts),
                batch.failed,
            )
        if batch.entries or batch.broadcasts or batch.stream:
            self._publisher.submit(batch.entries, batch.broadcasts, batch.stream)
        return batch

    async def trim(self) -> int:
        """Delete entries older than the retention; return how many. Safe to cancel."""
        return await self._exclusive(self._trim)

    async def _trim(self) -> int:
        now = datetime.now(UTC)
        before = now - timedelta(seconds=self._settings.retention_seconds)
        try:
            report = await self.store.trim_stream(before, now)
        except StoreError as error:
            self._store_outage.failed(error)
            return 0
        if report.changes:  # devices drop what retention removed, and their counts follow
            self._publisher.submit((), (), report.changes)
        if report.deleted:
            log.info("trimmed %d inbox entries older than the retention", report.deleted)
        return report.deleted

    def request_stop(self) -> None:
        """Start no new round; a round in progress finishes."""
        self._stopping = True

    async def close(self, timeout: float) -> None:
        """Stop, wait up to ``timeout`` for the round in progress, release the lease."""
        self.request_stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        try:
            await self.store.release_lease(self.owner)
        except StoreError as error:
            log.warning("could not release the routing lease (%s)", describe(error))
