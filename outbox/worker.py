"""The routing worker process: outbox records in, inbox entries and live signals out.

Design. The store is the record and Redis is only a trigger, so the process is four
independent asyncio tasks around one :class:`Router`, and none of them stops the others:

- the **sweep** routes on every wake-up and at least every ``sweep_interval_seconds``, and
  trims entries older than ``retention_seconds`` about once a minute. It needs nothing but
  the store, so routing goes on while Redis is down;
- the **wake subscriber** listens on ``WAKE_CHANNEL`` (published by the emit helper after its
  commit) and wakes the sweep at once: low latency without busy polling. It reconnects with
  backoff and wakes the sweep on every (re)subscription, since wake-ups sent meanwhile are
  lost;
- the **arq supervisor** runs an arq ``Worker`` with the ``route_pending`` job
  (``ROUTE_JOB`` on ``ARQ_QUEUE``), so any process can trigger a drain through arq. arq 0.28's
  ``Worker.main`` does not survive Redis going away: ``create_pool`` gives up after
  ``conn_retries`` and a failed ``zrangebyscore`` in the poll loop ends ``main`` with the
  error. The supervisor therefore builds a fresh ``Worker`` after each failure, with backoff;
- the **publisher** sends each committed batch on ``LIVE_CHANNEL``, in order. Routing hands
  batches over without waiting; when Redis fails the publisher logs it, keeps the batches
  (up to a bound) and retries with backoff, so routing never slows down for Redis and
  delivery, which can find every entry in the store anyway, misses as little as possible.

Routing inside one process is serialized by a lock, and each drain runs in a task of the
router's own, shielded from its caller: cancelling an arq job or the sweep never interrupts
a store transaction half-way. Across processes the store's single routing lease decides who
routes; ``claim_batch`` renews it while draining. A worker that dies keeps the lease until
it expires (``lease_seconds``), then another worker, or the restarted one under a new owner
id, takes over. arq's own at-least-once redelivery is never waited for.

SIGTERM and SIGINT stop the process cleanly: no new batch starts, the batch in progress ends,
the lease is released so that another worker takes over immediately, and batches still
queued for publishing get a short grace period. Logs name owners, counts and error types,
never settings values such as URLs.
"""

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from arq.connections import RedisSettings
from arq.constants import health_check_key_suffix
from arq.worker import Worker, func
from redis.asyncio import Redis
from redis.exceptions import RedisError

from outbox.live import LivePublisher
from outbox.resolvers import Resolvers, load_resolvers
from outbox.retry import backoff_seconds
from outbox.routing import RoutedBatch, route_once
from outbox.store import OutboxStore
from outbox.stores import open_store
from outbox.worker_metrics import WorkerMetrics
from tidings.constants import ARQ_QUEUE, ROUTE_JOB, WAKE_CHANNEL
from tidings.errors import LeaseLost, StoreError, StoreUnavailable
from tidings.settings import Settings

log = logging.getLogger(__name__)

TRIM_INTERVAL_SECONDS = 60.0
FLUSH_SECONDS = 2.0
REDIS_TIMEOUT_SECONDS = 2.0
WAKE_IDLE_SECONDS = 15.0
HEALTH_CHECK_SECONDS = 10
_REDIS_ERRORS = (RedisError, OSError)


def new_owner_id() -> str:
    """A lease owner id unique to this process: ``hostname:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class _Outage:
    """Logs a dependency's failures once per outage, and its recovery once."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, error: BaseException) -> float:
        """Record a failure; return how long to wait before the next try."""
        if self.failures == 0:
            log.warning("%s unavailable (%s); retrying", self.what, _describe(error))
        else:
            log.debug("%s still unavailable (%s)", self.what, _describe(error))
        self.failures += 1
        return backoff_seconds(self.failures - 1, base_seconds=0.1, max_seconds=5.0)

    def recovered(self) -> None:
        if self.failures:
            log.info("%s available again after %d failed tries", self.what, self.failures)
            self.failures = 0


def redis_client(url: str) -> Redis:
    """A Redis client that fails fast instead of hanging when Redis is unreachable."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_keepalive=True,
    )
    return client


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
        self._publisher = publisher
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[int]] = set()
        self._stopping = False
        self._store_outage = _Outage("store")

    async def _exclusive(self, work: Callable[[], Awaitable[int]]) -> int:
        task = asyncio.create_task(self._locked(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _locked(self, work: Callable[[], Awaitable[int]]) -> int:
        async with self._lock:
            return 0 if self._stopping else await work()

    async def drain(self) -> int:
        """Route batches until a claim returns nothing; return the entries created.

        Stops early, without raising, when the store fails, when another worker holds or
        takes the lease, or when the router is stopping. Safe to cancel.
        """
        return await self._exclusive(self._drain)

    async def _drain(self) -> int:
        created = 0
        while not self._stopping:
            batch = await self._round()
            if batch is None or batch.claimed == 0:
                break
            created += len(batch.entries)
        return created

    async def _round(self) -> RoutedBatch | None:
        settings = self._settings
        now = datetime.now(UTC)
        try:
            batch = await route_once(
                self.store,
                self._resolvers,
                owner=self.owner,
                now=now,
                limit=settings.batch_size,
                lease_seconds=settings.lease_seconds,
                max_attempts=settings.max_attempts,
                base_seconds=settings.retry_base_seconds,
                max_seconds=settings.retry_max_seconds,
                resolve_budget_seconds=settings.lease_seconds / 2,
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
        if batch.entries or batch.broadcasts:
            self._publisher.submit(batch.entries, batch.broadcasts)
        return batch

    async def trim(self) -> int:
        """Delete entries older than the retention; return how many. Safe to cancel."""
        return await self._exclusive(self._trim)

    async def _trim(self) -> int:
        before = datetime.now(UTC) - timedelta(seconds=self._settings.retention_seconds)
        try:
            deleted = await self.store.trim(before)
        except StoreError as error:
            self._store_outage.failed(error)
            return 0
        if deleted:
            log.info("trimmed %d inbox entries older than the retention", deleted)
        return deleted

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
            log.warning("could not release the routing lease (%s)", _describe(error))


async def route_pending(ctx: dict[str, Any]) -> int:
    """The arq job ``ROUTE_JOB``: drain the outbox now; return the entries created."""
    router: Router = ctx["router"]
    return await router.drain()


def arq_worker_settings(settings: Settings, router: Router) -> dict[str, Any]:
    """arq ``WorkerSettings`` (as a dict) for the worker the supervisor runs.

    ``conn_retries=0`` hands reconnecting to the supervisor; ``keep_result=0`` lets a caller
    enqueue ``route_pending`` again under the same ``_job_id`` right after it ran.
    """
    redis_settings = dataclasses.replace(
        RedisSettings.from_dsn(settings.redis_url), conn_retries=0, conn_timeout=2
    )
    return {
        "functions": [func(route_pending, name=ROUTE_JOB, keep_result=0)],
        "queue_name": ARQ_QUEUE,
        "redis_settings": redis_settings,
        "handle_signals": False,
        "ctx": {"router": router},
        "max_jobs": 4,
        "keep_result": 0,
        # arq refreshes "<queue>:health-check" (expiring) this often; ``check_health`` reads it.
        "health_check_interval": HEALTH_CHECK_SECONDS,
    }


def check_health(settings: Settings) -> int:
    """0 when a worker's arq loop refreshed its health key within the last interval, else 1.

    This is what ``tidings worker --check`` prints and returns (a container healthcheck).
    """
    return asyncio.run(_check_health(settings.redis_url))


async def _check_health(redis_url: str) -> int:
    client = redis_client(redis_url)
    try:
        sentinel = await client.get(ARQ_QUEUE + health_check_key_suffix)
    except _REDIS_ERRORS as error:
        log.warning("health check failed: Redis unavailable (%s)", _describe(error))
        return 1
    finally:
        await client.aclose()
    if not sentinel:
        log.warning("health check failed: no worker refreshed its health key")
        return 1
    print(sentinel.decode(errors="replace"))
    return 0


async def _dispose(worker: Worker) -> None:
    """Stop an arq worker whose loop ended, whether or not Redis still answers."""
    for task in worker.tasks.values():
        task.cancel()
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    pool = worker._pool  # None when Redis never answered
    if pool is not None:
        with contextlib.suppress(*_REDIS_ERRORS):
            await pool.aclose()


async def supervise_arq(settings: Settings, router: Router) -> None:
    """Run arq's worker loop forever, rebuilding it after every Redis failure."""
    outage = _Outage("redis (arq)")

    async def started(ctx: dict[str, Any]) -> None:
        outage.recovered()

    while True:
        worker = Worker(**arq_worker_settings(settings, router), on_startup=started)
        try:
            await worker.main()
            delay = 0.0
        except _REDIS_ERRORS as error:
            delay = outage.failed(error)
        except Exception:
            log.exception("arq worker loop failed; restarting it")
            delay = 5.0
        finally:
            await _dispose(worker)
        await asyncio.sleep(delay)


async def _relay_wakes(client: Redis, wake: asyncio.Event, outage: _Outage) -> NoReturn:
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(WAKE_CHANNEL)
        outage.recovered()
        wake.set()  # wake-ups sent while unsubscribed are lost: look now
        while True:
            # The timeout bounds each read so that the client's health-check PING goes out
            # on an idle connection, which surfaces a dead one as an error.
            if await pubsub.get_message(timeout=WAKE_IDLE_SECONDS) is not None:
                wake.set()


async def listen_for_wakes(redis_url: str, wake: asyncio.Event) -> None:
    """Set ``wake`` on every wake-up message, forever, reconnecting with backoff."""
    outage = _Outage("redis (wake-ups)")
    while True:
        # No socket_timeout: an idle subscription is normal, not an error.
        client: Redis = Redis.from_url(
            redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_keepalive=True,
            health_check_interval=WAKE_IDLE_SECONDS,
        )
        try:
            await _relay_wakes(client, wake, outage)
        except _REDIS_ERRORS as error:
            delay = outage.failed(error)
        finally:
            await client.aclose()
        await asyncio.sleep(delay)


async def sweep(router: Router, wake: asyncio.Event, settings: Settings) -> None:
    """Drain on every wake-up and at least every ``sweep_interval_seconds``; trim now and then."""
    loop = asyncio.get_running_loop()
    next_trim = loop.time()
    while True:
        wake.clear()  # wake-ups that arrive during the drain cause one more
        try:
            await router.drain()
            if loop.time() >= next_trim:
                next_trim = loop.time() + TRIM_INTERVAL_SECONDS
                await router.trim()
        except Exception:
            # A bug must not stop routing for good; the next sweep tries again.
            log.exception("routing round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), settings.sweep_interval_seconds)


async def _open_store(
    settings: Settings, stop: asyncio.Event, *, retry: bool
) -> OutboxStore | None:
    """The configured store; ``None`` when stopped while waiting for it to answer."""
    outage = _Outage("store")
    while not stop.is_set():
        try:
            store = await open_store(settings)
        except StoreUnavailable as error:
            if not retry:
                raise
            delay = outage.failed(error)
        else:
            outage.recovered()
            return store
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return None


async def _run_until_stopped(router: Router, settings: Settings, stop: asyncio.Event) -> None:
    wake = asyncio.Event()
    tasks = [
        asyncio.create_task(sweep(router, wake, settings), name="sweep"),
        asyncio.create_task(listen_for_wakes(settings.redis_url, wake), name="wake"),
        asyncio.create_task(supervise_arq(settings, router), name="arq"),
    ]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done - {stopper}:
            task.result()  # these loops only end by raising: surface it
    finally:
        router.request_stop()
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)


async def serve(
    settings: Settings, *, burst: bool = False, stop: asyncio.Event | None = None
) -> None:
    """Run the worker until ``stop`` is set or, with ``burst``, until a claim returns nothing.

    On return no round is in progress and the lease is released. A burst run stops early
    when another worker holds the lease. Raises ``ConfigurationError`` for unusable settings
    (resolvers, schema); a store that does not answer is waited for, except in burst mode.
    """
    stop = stop or asyncio.Event()
    resolvers = load_resolvers(settings.resolvers)
    store = await _open_store(settings, stop, retry=not burst)
    if store is None:
        return
    redis = redis_client(settings.redis_url)
    publisher = LivePublisher(redis)
    publishing = asyncio.create_task(publisher.run(), name="publish")
    metrics = None
    if settings.worker_metrics_port is not None and not burst:
        metrics = WorkerMetrics()
        metrics.serve(settings.host, settings.worker_metrics_port)
    router = Router(store, resolvers, settings, publisher, metrics=metrics)
    log.info("routing worker %s started%s", router.owner, " (burst)" if burst else "")
    try:
        if burst:
            await _burst(router, stop)
        else:
            await _run_until_stopped(router, settings, stop)
    finally:
        if metrics is not None:
            metrics.stop()
        await router.close(timeout=max(5.0, settings.lease_seconds))
        await publisher.flush(FLUSH_SECONDS)
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)
        await store.close()
        await redis.aclose()
        log.info("routing worker %s stopped", router.owner)


async def _burst(router: Router, stop: asyncio.Event) -> None:
    drain = asyncio.create_task(router.drain())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([drain, stopper], return_when=asyncio.FIRST_COMPLETED)
    if not drain.done():
        router.request_stop()
    stopper.cancel()
    await drain  # a round in progress ends; a bug surfaces here


async def _main(settings: Settings, burst: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await serve(settings, burst=burst, stop=stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Run the routing worker in this thread until SIGTERM/SIGINT (or, with ``burst``, until
    nothing is pending). Blocking; see the module docstring for what runs inside.

    Meant as the process's one job (``tidings worker``): it freezes the objects that exist
    when it starts, which then stay out of every garbage collection for good.
    """
    # A routed batch keeps its records, routes and entries alive through several young
    # collections, so they reach the old generation and set off full collections, and each
    # full collection walked every object made at start (modules, settings): about a tenth of
    # routing time, measured. What exists now lives as long as the process anyway.
    gc.freeze()
    asyncio.run(_main(settings, burst))
