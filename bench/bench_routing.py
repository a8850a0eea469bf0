"""Routing benchmark: throughput, commit-to-published latency, MongoDB commands per batch.

Run: ``.venv/bin/python bench/bench_routing.py``. Needs ``redis-server`` on PATH (a private one
is started on a free port, so nothing else on the machine sees these publishes).

1. Inbox entries per second, one worker on one CPU on the embedded store, burst routing of a
   pre-filled outbox, for audiences of 1, 10 and 1,000 users drawn from 1,000 (each record's
   recipients are the next ones in turn), and for single-recipient records that all go to one
   user; live publishing included. Each case runs RUNS times; the median is reported, beside
   the floor (``bench/bare_routing.py``: the same SQLite writes with no worker) measured on
   the same records in the same run.
2. Commit-to-published latency at 200 emits/s for 10 s: records committed here, the worker in
   its own process, a subscriber on ``LIVE_CHANNEL`` here; latency is the moment a batch
   carrying the entry arrives minus the moment ``add_records`` returned.
3. MongoDB commands per routed batch of 1, 10 and 100 records, counted with
   ``pymongo.monitoring`` against the mongoeco test double: counts only, never timings.
"""

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pymongo import monitoring

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bare_routing import open_bare, route_bare  # noqa: E402
from foundation.constants import LIVE_CHANNEL, WAKE_CHANNEL  # noqa: E402
from foundation.settings import Settings, load_settings  # noqa: E402
from outbox.live_wire import decode_live_batch  # noqa: E402
from outbox.records import OutboxRecord, Users, new_record_id  # noqa: E402
from outbox.resolvers import Resolvers  # noqa: E402
from outbox.routing import RoutingPolicy, route_once  # noqa: E402
from outbox.stores.sqlite.schema import apply_sqlite  # noqa: E402
from outbox.stores.sqlite.store import SqliteStore  # noqa: E402
from outbox.worker import run_worker  # noqa: E402
from tests.mongo_server import CommandCounter  # noqa: E402
from tests.services import private_redis  # noqa: E402
from tests.worker import clean_env  # noqa: E402

RUNS = 5
BATCH_SIZE = 500
EMITS_PER_SECOND = 200
EMIT_SECONDS = 10
MONGO_BATCHES = (1, 10, 100)


def record_for(users: tuple[str, ...]) -> OutboxRecord:
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=record_id,
        event="bench_event",
        data={"amount": 42, "message": "x" * 200},
        audience=Users(users),
        created_at=datetime.now(UTC),
    )


def settings_for(data_dir: Path, redis_url: str) -> Settings:
    return load_settings(mongodb_url=None, data_dir=data_dir, redis_url=redis_url)


# --- 1. Throughput -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``records`` records of ``audience`` recipients each, out of ``population`` users."""

    label: str
    audience: int
    records: int
    population: int

    def audiences(self) -> list[tuple[str, ...]]:
        """Each record's recipients: the next ``audience`` users in turn, wrapping around."""
        return [
            tuple(f"user-{(i * self.audience + k) % self.population}" for k in range(self.audience))
            for i in range(self.records)
        ]


CASES = (
    Case("1 of 1,000 users", 1, 20_000, 1_000),
    Case("1, all to one user", 1, 20_000, 1),
    Case("10 of 1,000 users", 10, 5_000, 1_000),
    Case("1,000", 1_000, 100, 1_000),
)


@dataclass
class Figures:
    """Entries per second of each run, for tidings and for the floor."""

    entries: int
    tidings: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)


async def fill_both(case: Case, paths: tuple[Path, Path]) -> None:
    """The same records in two new stores, made a thousand at a time (none kept after)."""
    stores = []
    for path in paths:
        apply_sqlite(path)
        stores.append(await SqliteStore.open(path))
    audiences = case.audiences()
    for start in range(0, case.records, 1000):
        records = [record_for(users) for users in audiences[start : start + 1000]]
        for store in stores:
            await store.add_records(records)
    for store in stores:
        await store.close()


async def pending(path: Path) -> int:
    store = await SqliteStore.open(path)
    try:
        return (await store.lag()).pending
    finally:
        await store.close()


def throughput_run(case: Case, redis_url: str, figures: Figures, floor_first: bool) -> None:
    """Route the same records once with the worker and once with the floor.

    The worker runs as ``tidings worker --burst`` runs it: :func:`run_worker` in this thread.
    """
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), redis_url)
        floor_path = Path(tmp) / "floor.sqlite3"
        asyncio.run(fill_both(case, (settings.sqlite_path, floor_path)))

        def worker() -> None:
            started = time.perf_counter()
            run_worker(settings, burst=True)
            figures.tidings.append(figures.entries / (time.perf_counter() - started))

        def floor() -> None:
            conn = open_bare(floor_path)
            try:
                started = time.perf_counter()
                assert route_bare(conn, BATCH_SIZE) == figures.entries
                figures.floor.append(figures.entries / (time.perf_counter() - started))
            finally:
                conn.close()

        for step in (floor, worker) if floor_first else (worker, floor):
            step()
        assert asyncio.run(pending(settings.sqlite_path)) == 0


def throughput(redis_url: str) -> dict[Case, Figures]:
    """Every case RUNS times, alternating which of the two goes first, on one CPU.

    This thread is pinned to the lowest CPU it may use, and the threads it starts (the
    store's, the checkpointer's) inherit that; Redis, started before, keeps the others.
    """
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    measured = {case: Figures(case.audience * case.records) for case in CASES}
    try:
        for run in range(RUNS):
            for case, figures in measured.items():
                throughput_run(case, redis_url, figures, floor_first=run % 2 == 1)
    finally:
        os.sched_setaffinity(0, cpus)
    return measured


# --- 2. Latency ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def worker_process(settings: Settings) -> AsyncIterator[subprocess.Popen[bytes]]:
    env = clean_env(
        {"TIDINGS_DATA_DIR": str(settings.data_dir), "TIDINGS_REDIS_URL": settings.redis_url}
    )
    code = "from outbox.worker import run_worker; from foundation.settings import load_settings; "
    process = subprocess.Popen(
        [sys.executable, "-c", code + "run_worker(load_settings())"], cwd=REPO, env=env
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(15)


async def wait_for_subscriber(client: aioredis.Redis, channel: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        [(_, count)] = await client.pubsub_numsub(channel)
        if count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the worker never subscribed")
        await asyncio.sleep(0.02)


async def collect(pubsub: Any, arrivals: dict[str, float], expected: int, deadline: float) -> None:
    while len(arrivals) < expected and time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=0.1)
        if message is None:
            continue
        now = time.perf_counter()
        for entry in decode_live_batch(message["data"]).entries:
            arrivals.setdefault(entry.notification.id, now)


async def emit_paced(store: SqliteStore, client: aioredis.Redis) -> dict[str, float]:
    """Commit one record every 1/200 s (on an absolute schedule); return commit times."""
    commits: dict[str, float] = {}
    count = EMITS_PER_SECOND * EMIT_SECONDS
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / EMITS_PER_SECOND - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load
        record = record_for((f"user-{i % 100}",))
        await store.add_records([record])
        commits[record.notification_id] = time.perf_counter()
        await client.publish(WAKE_CHANNEL, b"")  # the wake-up a host sends after its commit
    return commits


async def latency(redis_url: str) -> tuple[int, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), redis_url)
        apply_sqlite(settings.sqlite_path)
        store = await SqliteStore.open(settings.sqlite_path)
        client = aioredis.Redis.from_url(redis_url)
        async with (
            worker_process(settings),
            client.pubsub(ignore_subscribe_messages=True) as pubsub,
        ):
            await pubsub.subscribe(LIVE_CHANNEL)
            await wait_for_subscriber(client, WAKE_CHANNEL)
            arrivals: dict[str, float] = {}
            expected = EMITS_PER_SECOND * EMIT_SECONDS
            deadline = time.monotonic() + EMIT_SECONDS + 30
            collector = asyncio.create_task(collect(pubsub, arrivals, expected, deadline))
            commits = await emit_paced(store, client)
            await collector
        await client.aclose()
        await store.close()
    delays = [(arrivals[n] - commits[n]) * 1000 for n in commits if n in arrivals]
    return len(commits), delays


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- 3. MongoDB commands per batch ---------------------------------------------------------


async def mongo_commands(url: str, counter: CommandCounter) -> dict[int, Counter[str]]:
    from outbox.stores.mongo.schema import apply_mongo
    from outbox.stores.mongo.store import MongoStore

    per_batch: dict[int, Counter[str]] = {}
    for size in MONGO_BATCHES:
        store = await MongoStore.connect(url, f"bench_{size}_{os.getpid()}")
        await apply_mongo(store.database)
        await store.add_records([record_for(("alice", "bob")) for _ in range(size)])
        counter.commands.clear()
        batch = await route_once(
            store,
            Resolvers(),
            owner="bench",
            now=datetime.now(UTC),
            policy=RoutingPolicy(
                batch_size=size,
                lease_seconds=10,
                max_attempts=3,
                retry_base_seconds=1,
                retry_max_seconds=10,
            ),
        )
        assert batch.routed == size, batch
        per_batch[size] = Counter(counter.commands)
        await store.client.drop_database(store.database.name)
        await store.close()
    return per_batch


def run_mongo_counts() -> dict[int, Counter[str]] | str:
    try:
        from tests.mongo_server import mongo_endpoint
    except ImportError as error:
        return f"skipped ({error})"
    counter = CommandCounter()
    monitoring.register(counter)
    with mongo_endpoint() as endpoint:
        return asyncio.run(mongo_commands(endpoint.url, counter))


# --- Report --------------------------------------------------------------------------------


def print_report(
    measured: dict[Case, Figures],
    emitted: int,
    delays: list[float],
    mongo: dict[int, Counter[str]] | str,
) -> None:
    print(
        f"\nRouting throughput: one worker on one CPU, embedded store, burst, batch_size"
        f" {BATCH_SIZE}; entries/s, median of {RUNS} runs (each run's figure in brackets)"
    )
    print(f"{'audience':<20} {'records':>7} {'entries/s':>10} {'floor/s':>9} {'of floor':>8}  runs")
    for case, figures in measured.items():
        tidings, floor = statistics.median(figures.tidings), statistics.median(figures.floor)
        runs = " ".join(f"{rate / 1000:.1f}k" for rate in figures.tidings)
        print(
            f"{case.label:<20} {case.records:>7} {tidings:>10,.0f} {floor:>9,.0f}"
            f" {tidings / floor:>8.2f}  ({runs})"
        )
    print(
        f"\nCommit-to-published latency at {EMITS_PER_SECOND} emits/s for {EMIT_SECONDS} s"
        " (worker in its own process)"
    )
    print(f"{'emitted':>8} {'received':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(
        f"{emitted:>8} {len(delays):>8} {statistics.median(delays):>8.1f}"
        f" {percentile(delays, 0.99):>8.1f} {max(delays):>8.1f}"
    )
    print("\nMongoDB commands per routed batch (mongoeco double: counts only)")
    if isinstance(mongo, str):
        print(mongo)
        return
    for size, commands in mongo.items():
        detail = ", ".join(f"{name} {n}" for name, n in sorted(commands.items()))
        print(f"batch {size:>4}: {sum(commands.values()):>3} commands ({detail})")
    totals = {sum(commands.values()) for commands in mongo.values()}
    print("equal for every batch size" if len(totals) == 1 else "NOT equal across batch sizes")


def main() -> None:
    with private_redis() as server:
        measured = throughput(server.url)
        emitted, delays = asyncio.run(latency(server.url))
    print_report(measured, emitted, delays, run_mongo_counts())


if __name__ == "__main__":
    main()
