"""``tidings serve`` and ``tidings worker`` at startup with the store unavailable: both wait.

The store here is unavailable because its data directory is read-only (SQLite cannot create
its ``-wal`` and ``-shm`` files there), which also checks that the outage is named: the cause
and the path, not "unable to open database file".
"""

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from outbox.records import Users
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from tests.read_only import read_only
from tests.services import announced_port
from tests.worker import REPO, clean_env, make_record, nothing_pending, wait_until

pytestmark = pytest.mark.slow

SECRET = "waiting-test-secret-" + "x" * 32
FAILED_TRIES = 4


class Command:
    """One ``tidings`` process, its stderr in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidings.cli", *args],
                cwd=REPO,
                env=clean_env(env),
                stderr=out,
            )

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if text in line]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A migrated store whose directory holds nothing but the database file."""
    directory = tmp_path / "data"
    apply_sqlite(directory / "tidings.sqlite3")
    return directory


@pytest.fixture
def env(data: Path, redis_url: str) -> dict[str, str]:
    return {
        "TIDINGS_DATA_DIR": str(data),
        "TIDINGS_REDIS_URL": redis_url,
        "TIDINGS_JWT_SECRET": SECRET,
        "TIDINGS_PORT": "0",
        "TIDINGS_LOG_LEVEL": "DEBUG",
    }


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for command in started:
        if command.process.poll() is None:
            command.process.kill()
            command.process.wait()


async def ready(process: Command) -> bool:
    """Whether ``tidings serve`` listens and is ready (on the port it picked itself)."""
    port = announced_port(process.log.read_text())
    if port is None:
        return False
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        except httpx.TransportError:
            return False


async def routes(path: Path) -> bool:
    """A record added now is routed (by the worker under test)."""
    store = await SqliteStore.open(path)
    try:
        await store.add_records([make_record(Users(("alice",)))])
        await wait_until(lambda: nothing_pending(store), timeout=20, interval=0.05)
    finally:
        await store.close()
    return True


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_waits_for_the_store_logging_the_outage_once(
    command: str, data: Path, env: dict[str, str], tmp_path: Path, commands: list[Command]
) -> None:
    with read_only(data):
        process = Command([command], env, tmp_path / f"{command}.log")
        commands.append(process)

        async def tried() -> bool:
            return len(process.lines("store still unavailable")) >= FAILED_TRIES - 1

        await wait_until(tried, timeout=20, interval=0.05)
        assert process.process.poll() is None, process.log.read_text()
        warnings = process.lines("store unavailable")
        assert len(warnings) == 1, warnings
        assert f"the data directory {data} is read-only" in warnings[0]
        assert "tidings.sqlite3-wal and tidings.sqlite3-shm" in warnings[0]
        if command == "serve":
            assert announced_port(process.log.read_text()) is None  # not listening yet

    if command == "serve":
        await wait_until(lambda: ready(process), timeout=20, interval=0.05)
    else:
        await routes(data / "tidings.sqlite3")
    assert len(process.lines("store available again after")) == 1
    assert len(process.lines("store unavailable")) == 1
    assert process.stop() == 0


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_a_signal_while_waiting_ends_the_process(
    command: str, data: Path, env: dict[str, str], tmp_path: Path, commands: list[Command]
) -> None:
    with read_only(data):
        process = Command([command], env, tmp_path / f"{command}.log")
        commands.append(process)

        async def waiting() -> bool:
            return bool(process.lines("store unavailable"))

        await wait_until(waiting, timeout=20, interval=0.05)
        started = asyncio.get_running_loop().time()
        assert process.stop() == 0
        assert asyncio.get_running_loop().time() - started < 10
    assert not process.lines("Application startup complete")
