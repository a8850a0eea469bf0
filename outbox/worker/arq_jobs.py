"""arq underneath the worker: the ``route_pending`` job, its supervisor and health check.

arq 0.28's ``Worker.main`` does not survive Redis going away: ``create_pool`` gives up after
``conn_retries`` and a failed ``zrangebyscore`` in the poll loop ends ``main`` with the error.
The supervisor therefore builds a fresh ``Worker`` after each failure, with backoff. It hands
each one a client it made itself: a client that ``create_pool`` is still pinging when the
worker is stopped would belong to nobody and never be closed.
"""

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.constants import health_check_key_suffix
from arq.worker import Worker, func
from redis.asyncio import ConnectionPool

from foundation.constants import ARQ_QUEUE, ROUTE_JOB
from foundation.settings import Settings
from outbox.worker.outage import REDIS_ERRORS, Outage, describe, redis_client
from outbox.worker.router import Router

log = logging.getLogger(__name__)

HEALTH_CHECK_SECONDS = 10


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
    except REDIS_ERRORS as error:
        log.warning("health check failed: Redis unavailable (%s)", describe(error))
        return 1
    finally:
        await client.aclose()
    if not sentinel:
        log.warning("health check failed: no worker refreshed its health key")
        return 1
    print(sentinel.decode(errors="replace"))
    return 0


def _arq_client(settings: Settings) -> ArqRedis:
    """The client an arq worker polls with; it connects on first use."""
    pool = ConnectionPool.from_url(settings.redis_url, socket_connect_timeout=2)
    return ArqRedis(pool, default_queue_name=ARQ_QUEUE)


async def _dispose(worker: Worker, client: ArqRedis) -> None:
    """Stop an arq worker whose loop ended, whether or not Redis still answers."""
    for task in worker.tasks.values():
        task.cancel()
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    with contextlib.suppress(*REDIS_ERRORS):
        await client.aclose(close_connection_pool=True)


async def supervise_arq(settings: Settings, router: Router) -> None:
    """Run arq's worker loop forever, rebuilding it after every Redis failure."""
    outage = Outage("redis (arq)")

    async def started(ctx: dict[str, Any]) -> None:
        outage.recovered()

    while True:
        client = _arq_client(settings)
        worker = Worker(
            **arq_worker_settings(settings, router), redis_pool=client, on_startup=started
        )
        try:
            await worker.main()
            delay = 0.0
        except REDIS_ERRORS as error:
            delay = outage.failed(error)
        except Exception:
            log.exception("arq worker loop failed; restarting it")
            delay = 5.0
        finally:
            await _dispose(worker, client)
        await asyncio.sleep(delay)
