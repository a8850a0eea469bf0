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
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from arq.connections import RedisSettings, create_pool

from api_hooks.wake import wake
from foundation.constants import ARQ_QUEUE, LIVE_CHANNEL, ROUTE_JOB, WAKE_CHANNEL
from foundation.settings import Settings, load_settings
from outbox.live_wire import decode_live_batch
from outbox.port import OutboxStore
from outbox.records import Users
from outbox.stores import migrate, open_store
from tests.mongo_server import MongoEndpoint
from tests.services import PrivateRedis, private_redis
from tests.worker import (
    check_stream_state,
    check_streams,
    make_record,
    nothing_pending,
    read_committed,
    spawn,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.slow

KILLS = 12


@dataclass
class Backend:
    """Where the processes meet: the store's settings as ``TIDINGS_*`` variables."""

    env: dict[str, str]
    settings: Settings
    store: OutboxStore
    work_dir: Path

    def files(self) -> dict[str, str]:
        return {
            "TEST_STOP_FILE": str(self.work_dir / "stop"),
            "TEST_COMMITTED_FILE": str(self.work_dir / "committed.txt"),
        }


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"TIDINGS_DATA_DIR": str(tmp_path / "data")}
    endpoint: MongoEndpoint = request.getfixturevalue("mongo")
    if endpoint.is_double:
        pytest.skip("mongoeco cannot run concurrent sessions: crash tests need a real MongoDB")
    return {
        "TIDINGS_MONGODB_URL": endpoint.url,
        "TIDINGS_MONGODB_DATABASE": f"tidings_test_{uuid.uuid4().hex[:12]}",
    }


@pytest.fixture(params=["sqlite", "mongo"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, server: PrivateRedis
) -> AsyncIterator[Backend]:
    env = {
        **store_env(request, tmp_path),
        "TIDINGS_REDIS_URL": server.url,
        "TIDINGS_RESOLVERS": "tests.worker:resolvers",
        "TIDINGS_LEASE_SECONDS": "1",
        "TIDINGS_SWEEP_INTERVAL_SECONDS": "0.05",
        "TIDINGS_BATCH_SIZE": "20",
    }
    settings = load_settings(**{k.removeprefix("TIDINGS_").lower(): v for k, v in env.items()})
    await migrate(settings)
    store = await open_store(settings)
    yield Backend(env, settings, store, tmp_path)
    if settings.uses_mongodb:
        await store.client.drop_database(settings.mongodb_database)  # type: ignore[attr-defined]
    await store.close()


def start_emitter(backend: Backend, seed: int, pause: float) -> subprocess.Popen[bytes]:
    env = {**backend.env, **backend.files(), "TEST_SEED": str(seed)}
    return spawn("emitter_main", {**env, "TEST_EMIT_PAUSE": str(pause)})


def stop_emitter(backend: Backend, emitter: subprocess.Popen[bytes]) -> None:
    Path(backend.files()["TEST_STOP_FILE"]).touch()
    assert emitter.wait(30) == 0


async def drain_and_check(backend: Backend, kills: int) -> None:
    """Let a last worker finish, stop it cleanly, and check every stream."""
    worker = spawn("worker_main", backend.env)
    client = aioredis.Redis.from_url(backend.settings.redis_url)
    try:
        await wait_until(lambda: nothing_pending(backend.store), timeout=60, interval=0.05)
        await workers_running(client, 1)
    finally:
        await client.aclose()
        assert stop_process(worker) == 0
    committed = read_committed(Path(backend.files()["TEST_COMMITTED_FILE"]))
    report = await check_streams(backend.store, committed)
    print(report.line(len(committed), kills))
    assert len(committed) > 100
    assert report.lost == report.duplicated == report.unexpected == 0
    assert report.gaps == [] and report.order_violations == []
    problems, changes = await check_stream_state(backend.store)
    print(f"{changes} state changes on the streams")
    assert problems == []
    assert changes > 10


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


async def workers_running(client: aioredis.Redis, count: int) -> None:
    """Wait until ``count`` workers listen for wake-ups (so they handle SIGTERM)."""

    async def running() -> bool:
        return await subscribers(client, WAKE_CHANNEL) >= count

    await wait_until(running, timeout=20)


async def committed_at_least(backend: Backend, count: int) -> bool:
    path = Path(backend.files()["TEST_COMMITTED_FILE"])
    return path.exists() and len(read_committed(path)) >= count


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


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
    except (OSError, aioredis.ConnectionError):
        return 0
    return int(count)


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
            await wake(client)
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
