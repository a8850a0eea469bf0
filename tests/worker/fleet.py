"""Worker and emitter processes around one store: where they meet, emitting, the final check.

Shared by the process tests (crashes, pauses, outages); the fixtures that build a
:class:`Backend` are in this folder's ``conftest.py``.
"""

import contextlib
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from foundation.constants import LEASES, ROUTER_LEASE, WAKE_CHANNEL
from foundation.settings import Settings
from outbox.port import OutboxStore
from outbox.timestamps import from_micros
from tests.mongo_server import MongoEndpoint
from tests.worker import (
    USERS,
    check_stream_state,
    check_streams,
    nothing_pending,
    read_committed,
    spawn,
    stop_process,
    wait_until,
)


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


async def workers_running(client: aioredis.Redis, count: int) -> None:
    """Wait until ``count`` workers listen for wake-ups (so they handle SIGTERM)."""

    async def running() -> bool:
        return await subscribers(client, WAKE_CHANNEL) >= count

    await wait_until(running, timeout=20)


async def committed_at_least(backend: Backend, count: int) -> bool:
    path = Path(backend.files()["TEST_COMMITTED_FILE"])
    return path.exists() and len(read_committed(path)) >= count


async def subscribers(client: aioredis.Redis, channel: str) -> int:
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
    except (OSError, aioredis.ConnectionError):
        return 0
    return int(count)


def lease_holder(backend: Backend) -> tuple[int, datetime] | None:
    """The pid of the routing lease's owner and the lease's expiry, read from the store
    itself (the port has no such query: only tests need to know who holds the lease)."""
    if backend.settings.uses_mongodb:
        return _mongo_lease(backend)
    with contextlib.closing(sqlite3.connect(backend.settings.sqlite_path)) as conn:
        row = conn.execute(
            f"SELECT owner, until FROM {LEASES} WHERE name = ?", (ROUTER_LEASE,)
        ).fetchone()
    return None if row is None else (_owner_pid(row[0]), from_micros(row[1]))


def _mongo_lease(backend: Backend) -> tuple[int, datetime] | None:
    from pymongo import MongoClient

    with MongoClient(backend.env["TIDINGS_MONGODB_URL"], tz_aware=True) as client:
        found = client[backend.settings.mongodb_database][LEASES].find_one({"_id": ROUTER_LEASE})
    return None if found is None else (_owner_pid(found["owner"]), from_micros(found["until_us"]))


def _owner_pid(owner: str) -> int:
    """The pid in an owner id ``hostname:pid:random`` (see ``new_owner_id``)."""
    return int(owner.rsplit(":", 2)[1])


async def routed_total(store: OutboxStore) -> int:
    """Entries routed so far, all users together (the sum of their heads)."""
    return sum([await store.head(user) for user in USERS])
