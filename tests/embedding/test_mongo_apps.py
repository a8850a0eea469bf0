"""The adopter's guide's MongoDB apps (PyMongo async and Motor), served by a real uvicorn.

They run against the test MongoDB endpoint (a real replica set when configured, else the
mongoeco wire double). On the double, operations go one at a time: the worker routes only
when woken after a commit (a long sweep interval), and each step waits for its frames.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pymongo import AsyncMongoClient, MongoClient

from foundation.constants import LEASES, ROUTER_LEASE, WAKE_CHANNEL
from tests.delivery.helpers import close_code, connect, recv, start_stream
from tests.delivery.node import token
from tests.embedding.servers import EXAMPLES, ROOT, SECRET, ExampleServer, example_server
from tests.mongo_server import MongoEndpoint

pytestmark = [pytest.mark.mongo, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def user_token(user: str, **claims: Any) -> str:
    return token(user, secret=SECRET, **claims)


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {user_token(user)}"}


@pytest.fixture
async def environment(mongo: MongoEndpoint, redis_url: str) -> AsyncIterator[dict[str, str]]:
    """A migrated database with the app's data, and the settings every process gets."""
    database = f"adopter_{uuid.uuid4().hex[:12]}"
    env = {
        "TIDINGS_STORE_URL": mongo.url,
        "TIDINGS_MONGODB_DATABASE": database,
        "TIDINGS_REDIS_URL": redis_url,
        "TIDINGS_SWEEP_INTERVAL_SECONDS": "60",
    }
    migrate = [str(Path(sys.executable).with_name("tidings")), "migrate"]
    subprocess.run(migrate, env={**os.environ, **env}, check=True, timeout=60, capture_output=True)
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo.url)
    db = client[database]
    await db.accounts.insert_many(
        [
            {"_id": name, "balance": 100 if name == "alice" else 0}
            for name in ("alice", "bob", "carol")
        ]
    )
    await db.families.insert_one({"_id": "f1", "members": ["alice", "bob"]})
    try:
        yield env
    finally:
        await client.drop_database(database)
        await client.close()


@pytest.fixture
def worker(environment: dict[str, str]) -> Iterator[None]:
    """``tidings worker`` beside the Motor app, importing its resolvers as the guide says."""
    env = {
        **os.environ,
        **environment,
        "TIDINGS_RESOLVERS": "motor_app:resolvers",
        "PYTHONPATH": str(EXAMPLES),
    }
    command = [str(Path(sys.executable).with_name("tidings")), "worker"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _until_routing(process, environment)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _until_routing(process: subprocess.Popen[bytes], environment: dict[str, str]) -> None:
    """Wait until the worker holds the routing lease and listens for wake-ups: its start-up
    is over. (The MongoDB double runs one operation at a time, so the app's transactions
    must not meet the worker's start-up; a real replica set has no such limit.)"""
    client: MongoClient[Any] = MongoClient(environment["TIDINGS_STORE_URL"])
    signals = redis.Redis.from_url(environment["TIDINGS_REDIS_URL"])
    leases = client[environment["TIDINGS_MONGODB_DATABASE"]][LEASES]
    deadline = time.monotonic() + 30
    try:
        while leases.find_one({"_id": ROUTER_LEASE}) is None or not any(
            count for _, count in signals.pubsub_numsub(WAKE_CHANNEL)
        ):
            assert process.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker did not start routing in 30 s"
            time.sleep(0.05)  # polling a starting process, not waiting out a race
    finally:
        client.close()
        signals.close()


async def revoke_closes_only_that_user(app: ExampleServer) -> None:
    async with (
        connect(f"{app.ws}?token={user_token('bob')}") as bob,
        connect(f"{app.ws}?token={user_token('carol')}") as carol,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        await start_stream(bob)
        await start_stream(carol)
        assert (await http.post("/sessions/revoke", headers=bearer("bob"))).is_success
        assert await close_code(bob, 1.0) == 4403
        await carol.send('{"type":"ack","seq":0}')
        assert carol.close_code is None
    async with connect(f"{app.ws}?token={user_token('bob')}") as stale:
        assert await close_code(stale) == 4403


async def announcement_reaches_the_family(app: ExampleServer) -> None:
    async with (
        connect(f"{app.ws}?token={user_token('alice')}&since=0") as alice,
        connect(f"{app.ws}?token={user_token('bob')}&since=0") as bob,
        httpx.AsyncClient(base_url=app.url) as http,
    ):
        await start_stream(alice)
        await start_stream(bob)
        said = await http.post(
            "/families/f1/announcements", json={"text": "hello"}, headers=bearer("alice")
        )
        assert said.json() == {"status": "sent"}
        for ws in (alice, bob):
            frame = await recv(ws)
            assert (frame["event"], frame["data"]["text"]) == ("family_announcement", "hello")


async def test_the_pymongo_app(tmp_path: Path, environment: dict[str, str]) -> None:
    with example_server("pymongo_app", tmp_path, environment, log_level="debug") as app:
        async with (
            connect(f"{app.ws}?token={user_token('bob')}&since=0") as bob,
            httpx.AsyncClient(base_url=app.url) as http,
        ):
            await start_stream(bob)
            transfer = {"to": "bob", "amount": 30}
            sent = await http.post("/transfers", json=transfer, headers=bearer("alice"))
            assert sent.json() == {"balance": 70}
            frame = await recv(bob)
            assert frame["data"] == {"from_username": "alice", "amount": 30, "new_balance": 30}
            too_much = {"to": "bob", "amount": 1000}
            refused = await http.post("/transfers", json=too_much, headers=bearer("alice"))
            assert refused.status_code == 409
            with pytest.raises(TimeoutError):
                await recv(bob, timeout=0.3)
        await announcement_reaches_the_family(app)
        await revoke_closes_only_that_user(app)
        output = app.output()
    # Plain uvicorn logging at DEBUG (the app does not configure any): still no token.
    assert "GET /ws?token=[redacted]" in output
    assert SECRET not in output and user_token("bob").split(".")[-1] not in output


async def test_the_motor_app_with_tidings_worker_beside_it(
    tmp_path: Path, environment: dict[str, str], worker: None
) -> None:
    with example_server("motor_app", tmp_path, environment) as app:
        await announcement_reaches_the_family(app)
        async with (
            connect(f"{app.ws}?token={user_token('carol')}&since=0") as carol,
            httpx.AsyncClient(base_url=app.url) as http,
        ):
            await start_stream(carol)
            changed = await http.post(
                "/profile", json={"display_name": "Carol"}, headers=bearer("carol")
            )
            assert changed.json() == {"status": "updated"}
            frame = await asyncio.wait_for(recv(carol), 5)
            assert frame["event"] == "profile_updated"
            assert frame["data"]["updated_fields"] == ["display_name"]
        await revoke_closes_only_that_user(app)
