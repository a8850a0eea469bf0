"""Worker processes killed, doubled, and cut off from Redis while another process emits.

These run the real ``run_worker`` in subprocesses (``tests.worker.worker_main``) against a
private ``redis-server`` and a store on disk (or a real MongoDB when one is configured), and
check every user's stream at the end: G2 (each committed notification once per recipient),
G3 (seqs 1..n) and G4 (seqs follow the emitter's commit order). State changes are in the
mix (marks, collapse keys, retractions): each user's stream positions are 1..n too, and the
counts equal a recount.
"""

import os
import random
import time
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from arq.connections import RedisSettings, create_pool

from foundation.constants import ARQ_QUEUE, LIVE_CHANNEL, ROUTE_JOB, WAKE_CHANNEL
from outbox.live_wire import decode_live_batch
from outbox.port import OutboxStore
from outbox.records import Users
from tests.services import PrivateRedis
from tests.worker import (
    make_record,
    nothing_pending,
    spawn,
    stop_process,
    wait_until,
)
from tests.worker.fleet import (
    Backend,
    committed_at_least,
    drain_and_check,
    start_emitter,
    stop_emitter,
    subscribers,
    workers_running,
)

pytestmark = pytest.mark.slow

KILLS = 12


async def test_sigkilled_workers_lose_and_duplicate_nothing(backend: Backend) -> None:
    seed = int(os.environ.get("TEST_SEED") or random.randrange(2**32))
    print(f"crash test seed {seed} (rerun with TEST_SEED={seed})")
    rng = random.Random(seed)
    emitter = start_emitter(backend, seed, pause=0.0)
    backlogs: list[int] = []
    try:
        for _ in range(KILLS):
            worker = spawn("worker_main", backend.env)
            # The kill schedule itself: a restarted worker first waits out the dead one's
            # lease, then drains the backlog in batches of 20, so kills land in every phase.
            time.sleep(rng.uniform(0.3, 2.5))
            worker.kill()
            worker.wait()
            backlogs.append((await backend.store.lag()).pending)
        assert emitter.poll() is None, "the emitter died"
    finally:
        stop_emitter(backend, emitter)
    busy = sum(pending >= backend.settings.batch_size for pending in backlogs)
    print(f"pending at each kill: {backlogs}; {busy} kills with at least a batch pending")
    await drain_and_check(backend, KILLS)


async def test_two_workers_at_once_share_the_work_without_gaps(backend: Backend) -> None:
    emitter = start_emitter(backend, seed=7, pause=0.001)
    workers = [spawn("worker_main", backend.env) for _ in range(2)]
    client = aioredis.Redis.from_url(backend.settings.redis_url)
    try:
        await workers_running(client, 2)
        await wait_until(lambda: committed_at_least(backend, 300), timeout=30, interval=0.05)
        # A clean stop hands the lease over at once; the stopped one comes back.
        assert stop_process(workers[0]) == 0
        workers[0] = spawn("worker_main", backend.env)
        await workers_running(client, 2)
        await wait_until(lambda: committed_at_least(backend, 600), timeout=30, interval=0.05)
        assert all(worker.poll() is None for worker in workers)
    finally:
        await client.aclose()
        stop_emitter(backend, emitter)
        codes = [stop_process(worker) for worker in workers]
    assert codes == [0, 0]
    await drain_and_check(backend, kills=0)


async def test_a_clean_stop_releases_the_lease(backend: Backend) -> None:
    env = {**backend.env, "TIDINGS_LEASE_SECONDS": "60"}
    worker = spawn("worker_main", env)
    try:
        await backend.store.add_records([make_record(Users(("alice",)))])
        await wait_until(lambda: nothing_pending(backend.store), timeout=30)
    finally:
        assert stop_process(worker) == 0
    # Held for 60 s unless released: another owner gets the record at once.
    await backend.store.add_records([make_record(Users(("alice",)))])
    claimed = await backend.store.claim_batch("successor", datetime.now(UTC), 60, 10)
    assert len(claimed) == 1


async def test_routing_survives_a_redis_outage_and_redis_parts_recover(
    backend: Backend, server: PrivateRedis
) -> None:
    if backend.settings.uses_mongodb:
        pytest.skip("the outage concerns Redis only; once on the embedded store is enough")
    log_file = backend.work_dir / "worker.log"
    env = {**backend.env, "TIDINGS_SWEEP_INTERVAL_SECONDS": "0.2", "TEST_LOG_LEVEL": "DEBUG"}
    with log_file.open("wb") as log:
        worker = spawn("worker_main", env, stderr=log)
    client = aioredis.Redis.from_url(server.url, socket_connect_timeout=0.5)
    store = backend.store
    try:
        await wait_until(lambda: subscribers(client, WAKE_CHANNEL), timeout=20)
        server.stop()
        await store.add_records([make_record(Users(("alice",))) for _ in range(20)])
        await wait_until(lambda: nothing_pending(store), timeout=10)  # the sweep, no Redis
        assert [e.seq for e in await store.read_inbox_after("alice", 0, 100)] == [*range(1, 21)]
        assert worker.poll() is None

        server.start()
        await wait_until(lambda: subscribers(client, WAKE_CHANNEL), timeout=20)
        await live_batch_arrives(client, store)
        await arq_job_runs(server, store)
        assert worker.poll() is None
    finally:
        assert stop_process(worker) == 0
        await client.aclose()
    text = log_file.read_text()
    assert "redis (live publishing) unavailable" in text
    assert "redis://" not in text  # settings URLs are never logged


async def live_batch_arrives(client: aioredis.Redis, store: OutboxStore) -> None:
    """Publishing resumed: emit until a live batch for ``bob`` comes through."""
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(LIVE_CHANNEL)

        async def received() -> bool:
            await store.add_records([make_record(Users(("bob",)))])
            await client.publish(WAKE_CHANNEL, b"")
            message = await pubsub.get_message(timeout=0.2)
            return message is not None and any(
                e.user_id == "bob" for e in decode_live_batch(message["data"]).entries
            )

        await wait_until(received, timeout=15)


async def arq_job_runs(server: PrivateRedis, store: OutboxStore) -> None:
    """arq's loop is back: an enqueued ``route_pending`` is consumed."""
    pool = await create_pool(RedisSettings.from_dsn(server.url), default_queue_name=ARQ_QUEUE)
    try:
        await pool.enqueue_job(ROUTE_JOB)

        async def consumed() -> bool:
            return bool(await pool.zcard(ARQ_QUEUE) == 0)

        await wait_until(consumed, timeout=20, interval=0.05)
    finally:
        await pool.aclose()
