"""The worker in this process: burst runs, wake-ups, the arq trigger, and Redis failures.

Each test that touches pub/sub has a private ``redis-server``: channels are server-wide, and
other suites publish on the same names.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker

from broker import MemoryBroker, RedisBroker
from foundation.constants import (
    ARQ_QUEUE,
    LIVE_CHANNEL,
    ROUTE_JOB,
    ROUTED_COUNTER_KEY,
    WAKE_CHANNEL,
)
from foundation.errors import SignalUnavailable
from foundation.settings import Settings, load_settings
from outbox.live_wire import decode_live_batch
from outbox.records import Group, InboxEntry, Notification, Route, Users
from outbox.resolvers import Resolvers
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from outbox.stream import ChangeOp
from outbox.worker import serve
from outbox.worker.arq_jobs import arq_worker_settings, route_pending, supervise_arq
from outbox.worker.publisher import LivePublisher
from outbox.worker.router import Router, new_owner_id
from outbox.worker.wakeups import listen_for_wakes
from tests.services import PrivateRedis, free_port, private_redis
from tests.worker import make_record, nothing_pending, wait_until
from tests.worker import resolvers as team_resolvers


def worker_settings(data_dir: Path, redis_url: str, **overrides: Any) -> Settings:
    return load_settings(
        mongodb_url=None,
        data_dir=data_dir,
        redis_url=redis_url,
        resolvers="tests.worker:resolvers",
        **overrides,
    )


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture
async def client(server: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(server.url)
    yield redis
    await redis.aclose()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    settings = worker_settings(tmp_path, "redis://127.0.0.1:1/0")
    apply_sqlite(settings.sqlite_path)
    store = await SqliteStore.open(settings.sqlite_path)
    yield store
    await store.close()


async def live_entries(pubsub: Any, count: int, timeout: float = 5.0) -> list[tuple[str, int]]:
    """(user, seq) of live entries until ``count`` have arrived."""
    seen: list[tuple[str, int]] = []

    async def enough() -> bool:
        message = await pubsub.get_message(timeout=0.05)
        if message is not None:
            seen.extend((e.user_id, e.seq) for e in decode_live_batch(message["data"]).entries)
        return len(seen) >= count

    await wait_until(enough, timeout=timeout)
    return seen


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    [(_, count)] = await client.pubsub_numsub(channel)
    return int(count)


async def test_burst_routes_everything_publishes_and_releases_the_lease(
    tmp_path: Path, store: SqliteStore, server: PrivateRedis, client: aioredis.Redis
) -> None:
    await store.add_records([make_record(Users(("alice", "bob"))) for _ in range(30)])
    await store.add_records([make_record(Group("team", "t1"))])
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(LIVE_CHANNEL)
        await serve(worker_settings(tmp_path, server.url, batch_size=7), burst=True)
        received = await live_entries(pubsub, 62)
    assert sorted(received) == sorted(
        [(u, s) for u in ("alice", "bob") for s in range(1, 31)] + [("u1", 1), ("u3", 1)]
    )
    assert await nothing_pending(store)
    assert int(await client.get(ROUTED_COUNTER_KEY)) == 62
    # Released: another owner claims at once instead of waiting out the lease.
    await store.add_records([make_record(Users(("carol",)))])
    assert len(await store.claim_batch("someone-else", datetime.now(UTC), 10, 10)) == 1


async def test_burst_routes_from_the_store_when_redis_is_down(
    tmp_path: Path, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.add_records([make_record(Users(("alice",))) for _ in range(5)])
    settings = worker_settings(tmp_path, f"redis://127.0.0.1:{free_port()}/0", batch_size=2)
    await serve(settings, burst=True)
    assert [e.seq for e in await store.read_inbox_after("alice", 0, 10)] == [1, 2, 3, 4, 5]
    assert "redis (live publishing) unavailable" in caplog.text


async def test_wake_ups_route_without_waiting_for_the_sweep(
    tmp_path: Path,
    store: SqliteStore,
    server: PrivateRedis,
    client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sweep runs once a minute and the store's commit watch is left out: only wake-ups
    # can route within the deadlines.
    monkeypatch.setattr(SqliteStore, "commit_watch", lambda self: None)
    settings = worker_settings(tmp_path, server.url, sweep_interval_seconds=60)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, stop=stop))
    try:
        await wait_until(lambda: subscribers(client, WAKE_CHANNEL), timeout=10)
        async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(LIVE_CHANNEL)
            for seq in (1, 2, 3):
                await store.add_records([make_record(Users(("alice",)))])
                await client.publish(WAKE_CHANNEL, b"")
                assert await live_entries(pubsub, 1, timeout=5) == [("alice", seq)]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 15)


async def test_the_commit_watch_routes_without_wake_ups_or_the_sweep(
    tmp_path: Path, store: SqliteStore
) -> None:
    # No Redis, nobody sends a wake-up, and the sweep runs once a minute: only the worker's
    # watch on the store's commits can route within the deadlines.
    settings = worker_settings(tmp_path, "memory://", sweep_interval_seconds=60)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(settings, stop=stop))
    try:
        for seq in (1, 2, 3):
            await store.add_records([make_record(Users(("alice",)))])

            async def routed(seq: int = seq) -> bool:
                return await store.head("alice") == seq

            await wait_until(routed, timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 15)


async def test_the_arq_job_drains_the_outbox(
    tmp_path: Path, store: SqliteStore, server: PrivateRedis
) -> None:
    settings = worker_settings(tmp_path, server.url, batch_size=3)
    await store.add_records([make_record(Users(("alice",))) for _ in range(8)])
    broker = RedisBroker(server.url)
    router = Router(store, team_resolvers, settings, LivePublisher(broker))
    pool = await create_pool(RedisSettings.from_dsn(server.url), default_queue_name=ARQ_QUEUE)
    try:
        job = await pool.enqueue_job(ROUTE_JOB)
        assert job is not None
        worker = Worker(**{**arq_worker_settings(settings, router), "burst": True})
        await worker.main()
        await worker.pool.aclose()  # Worker.close() uses redis-py's deprecated close()
        assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    finally:
        await pool.aclose()
        await router.close(timeout=5)
        await broker.close()
    assert len(await store.read_inbox_after("alice", 0, 100)) == 8


async def test_route_pending_returns_the_entries_created(
    store: SqliteStore, tmp_path: Path
) -> None:
    await store.add_records([make_record(Users(("alice", "bob"))) for _ in range(3)])
    broker = MemoryBroker()
    router = Router(
        store, team_resolvers, worker_settings(tmp_path, "redis://x"), LivePublisher(broker)
    )
    assert await route_pending({"router": router}) == 6
    assert await route_pending({"router": router}) == 0
    await router.close(timeout=5)
    await broker.close()


async def test_a_cancelled_caller_never_interrupts_a_batch(
    store: SqliteStore, tmp_path: Path
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow(_: str) -> list[str]:
        entered.set()
        await release.wait()
        return ["alice"]

    resolvers = Resolvers()
    resolvers.register("team", slow)
    await store.add_records([make_record(Group("team", "t1"))])
    broker = MemoryBroker()
    router = Router(store, resolvers, worker_settings(tmp_path, "redis://x"), LivePublisher(broker))
    caller = asyncio.create_task(router.drain())
    await asyncio.wait_for(entered.wait(), 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    release.set()
    await router.close(timeout=5)  # waits for the batch, then releases the lease
    await broker.close()
    assert [e.seq for e in await store.read_inbox_after("alice", 0, 10)] == [1]


class FlakyBroker(MemoryBroker):
    """A broker that refuses ``failures`` publishes, then records what it is sent."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.published: list[bytes] = []
        self.counted = 0

    async def publish(
        self, channel: str, messages: Sequence[bytes], *, count: tuple[str, int] | None = None
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise SignalUnavailable("redis refused")
        self.published.extend(messages)
        self.counted += count[1] if count is not None else 0


def one_entry_batch(seq: int) -> tuple[list[InboxEntry], list[Notification]]:
    note = make_record(Users(("a",))).notification()
    return [InboxEntry("a", seq, note, datetime.now(UTC))], []


async def test_publishing_never_blocks_routing_and_retries_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = FlakyBroker(failures=3)
    publisher = LivePublisher(redis)
    for seq in (1, 2, 3):
        publisher.submit(*one_entry_batch(seq))  # returns at once: nothing runs yet
    assert redis.published == []
    task = asyncio.create_task(publisher.run())
    try:
        await wait_until(lambda: publisher.flush(0.01), timeout=10)
    finally:
        task.cancel()
    seqs = [e.seq for m in redis.published for e in decode_live_batch(m).entries]
    assert seqs == [1, 2, 3]
    assert redis.counted == 3
    assert caplog.text.count("redis (live publishing) unavailable") == 1


async def test_a_full_backlog_drops_new_batches_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = FlakyBroker(failures=1)
    publisher = LivePublisher(redis, max_pending_bytes=1)
    for seq in (1, 2, 3):
        publisher.submit(*one_entry_batch(seq))
    assert publisher.dropped == 2
    task = asyncio.create_task(publisher.run())
    try:
        await wait_until(lambda: publisher.flush(0.01), timeout=10)
    finally:
        task.cancel()
    assert [e.seq for m in redis.published for e in decode_live_batch(m).entries] == [1]
    assert "dropping batches" in caplog.text
    assert "2 batches were dropped" in caplog.text


async def test_arq_and_wake_ups_recover_when_redis_comes_up_late(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = PrivateRedis(free_port())  # not started yet
    settings = worker_settings(tmp_path, server.url)
    apply_sqlite(settings.sqlite_path)
    store = await SqliteStore.open(settings.sqlite_path)
    broker = RedisBroker(server.url)
    router = Router(store, team_resolvers, settings, LivePublisher(broker), owner=new_owner_id())
    woken = asyncio.Event()
    tasks = [
        asyncio.create_task(supervise_arq(settings, router)),
        asyncio.create_task(listen_for_wakes(broker, woken)),
    ]
    try:

        async def both_failed() -> bool:
            text = caplog.text
            return "redis (arq) unavailable" in text and "redis (wake-ups) unavailable" in text

        await wait_until(both_failed, timeout=10)
        assert not any(task.done() for task in tasks)
        server.start()
        await asyncio.wait_for(woken.wait(), 15)  # set on (re)subscription
        await store.add_records([make_record(Users(("alice",)))])
        pool = await create_pool(RedisSettings.from_dsn(server.url), default_queue_name=ARQ_QUEUE)
        await pool.enqueue_job(ROUTE_JOB)
        await wait_until(lambda: nothing_pending(store), timeout=15)
        await pool.aclose()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await router.close(timeout=5)
        await store.close()
        await broker.close()
        server.stop()


async def test_a_trim_publishes_its_changes_so_devices_drop_what_retention_removed(
    store: SqliteStore, tmp_path: Path
) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    await store.add_records([make_record(Users(("alice", "bob"))) for _ in range(2)])
    claimed = await store.claim_batch("old-owner", long_ago, 10, 10)
    await store.append_routes("old-owner", long_ago, [Route(r, ("alice", "bob")) for r in claimed])
    redis = FlakyBroker(failures=0)
    publisher = LivePublisher(redis)
    settings = worker_settings(tmp_path, "redis://x", retention_seconds=3600)
    router = Router(store, team_resolvers, settings, publisher)
    task = asyncio.create_task(publisher.run())
    try:
        assert await router.trim() == 4
        await wait_until(lambda: publisher.flush(0.01), timeout=10)
    finally:
        task.cancel()
        await router.close(timeout=5)
    [message] = redis.published
    changes = decode_live_batch(message).stream()
    assert [(c.user_id, c.pos, c.op, c.seqs) for c in changes] == [  # type: ignore[union-attr]
        ("alice", 3, ChangeOp.TRIM, (1, 2)),
        ("bob", 3, ChangeOp.TRIM, (1, 2)),
    ]
