"""The worker process: start, the sweep, stop on a signal (``tidings worker``).

The tasks it runs and why they are independent are described in :mod:`outbox.worker`.
SIGTERM and SIGINT stop the process cleanly: no new batch starts, the batch in progress ends,
the lease is released so that another worker takes over immediately, and batches still
queued for publishing get a short grace period.
"""

import asyncio
import contextlib
import gc
import logging
import signal

from broker import Broker, open_broker
from foundation.errors import StoreError
from foundation.settings import Settings
from outbox.port import CommitWatch, OutboxStore
from outbox.resolvers import Resolvers, load_resolvers
from outbox.stores import open_store, open_store_when_available
from outbox.worker.arq_jobs import supervise_arq
from outbox.worker.metrics import WorkerMetrics
from outbox.worker.publisher import LivePublisher
from outbox.worker.router import Router
from outbox.worker.wakeups import CommitWatcher, listen_for_wakes

log = logging.getLogger(__name__)

TRIM_INTERVAL_SECONDS = 60.0
FLUSH_SECONDS = 2.0
# Drains start at most this often: wake-ups that come closer together (one per host commit)
# share a drain, so the busier the host, the larger each batch and the less each record
# costs. It is also the most a wake-up waits for a drain to start.
DRAIN_SPACING_SECONDS = 0.003


async def sweep(router: Router, wake: asyncio.Event, settings: Settings) -> None:
    """Drain on every wake-up and at least every ``sweep_interval_seconds``; trim now and then.

    Drains start at least ``DRAIN_SPACING_SECONDS`` apart.
    """
    loop = asyncio.get_running_loop()
    next_trim = loop.time()
    while True:
        started = loop.time()
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
        spacing = started + DRAIN_SPACING_SECONDS - loop.time()
        if spacing > 0:
            await asyncio.sleep(spacing)  # wake-ups meanwhile join this drain


def _commit_watch(store: OutboxStore) -> CommitWatch | None:
    try:
        return store.commit_watch()
    except StoreError as error:  # the hosts' wake-ups and the sweep still route
        log.warning("no commit watch on the store: %s", type(error).__name__)
        return None


async def _run_until_stopped(
    router: Router, settings: Settings, broker: Broker, stop: asyncio.Event
) -> None:
    wake = asyncio.Event()
    tasks = [asyncio.create_task(sweep(router, wake, settings), name="sweep")]
    watch = _commit_watch(router.store)
    if watch is None:
        tasks.append(asyncio.create_task(listen_for_wakes(broker, wake), name="wake"))
    else:
        watcher = CommitWatcher(watch, wake)
        tasks.append(asyncio.create_task(watcher.run(), name="commits"))
        tasks.append(asyncio.create_task(listen_for_wakes(broker, wake, watcher.heat), name="wake"))
    if broker.spans_processes:  # arq's queue lives in Redis; within one process, wake-ups do
        tasks.append(asyncio.create_task(supervise_arq(settings, router), name="arq"))
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
        if watch is not None:
            watch.close()


async def serve(
    settings: Settings,
    *,
    burst: bool = False,
    stop: asyncio.Event | None = None,
    resolvers: Resolvers | None = None,
    broker: Broker | None = None,
) -> None:
    """Run the worker until ``stop`` is set or, with ``burst``, until a claim returns nothing.

    ``resolvers`` default to the ones ``TIDINGS_RESOLVERS`` names. ``broker`` is the
    process's (shared with a delivery node in the same process), which the caller closes;
    without one the worker opens its own from ``TIDINGS_REDIS_URL``. On return no round is in
    progress and the lease is released. A burst run stops early when another worker holds the
    lease. Raises ``ConfigurationError`` for unusable settings (resolvers, schema); a store
    that does not answer is waited for, except in burst mode.
    """
    stop = stop or asyncio.Event()
    resolvers = resolvers or load_resolvers(settings.resolvers)
    store: OutboxStore | None
    if burst:
        store = await open_store(settings)
    else:
        store = await open_store_when_available(settings, stop)
    if store is None:
        return
    signals = open_broker(settings) if broker is None else broker
    publisher = LivePublisher(signals)
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
            await _run_until_stopped(router, settings, signals, stop)
    finally:
        if metrics is not None:
            metrics.stop()
        await router.close(timeout=max(5.0, settings.lease_seconds))
        await publisher.flush(FLUSH_SECONDS)
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)
        await store.close()
        if broker is None:
            await signals.close()
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
