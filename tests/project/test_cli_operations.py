"""Operators' view through the real ``tidings`` command: status, lag, dead records."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api_hooks import build_record
from delivery.metrics import DeliveryMetrics
from outbox.records import Group, Users
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from tests.worker import REPO, clean_env

pytestmark = pytest.mark.slow


def tidings(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings.cli", *args],
        cwd=REPO,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def status(env: dict[str, str], *extra: str) -> tuple[dict[str, object], int]:
    done = tidings(env, "status", "--json", *extra)
    return json.loads(done.stdout.splitlines()[-1]), done.returncode


async def emit(path: Path, *audiences: Users | Group) -> None:
    store = await SqliteStore.open(path)
    try:
        records = [
            build_record(event="cli.test", data={}, to=to, now=datetime.now(UTC))
            for to in audiences
        ]
        await store.add_records(records)
    finally:
        await store.close()


async def scraped_metrics(path: Path) -> str:
    """What a delivery node's /metrics shows for this store (the same calls, no HTTP)."""
    store = await SqliteStore.open(path)
    try:
        metrics = DeliveryMetrics()
        metrics.observe_outbox(await store.lag(), datetime.now(UTC), routed_total=0)
        return metrics.render().decode()
    finally:
        await store.close()


@pytest.fixture
def env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    return {
        "TIDINGS_DATA_DIR": str(tmp_path),
        "TIDINGS_REDIS_URL": redis_url,
        "TIDINGS_MAX_ATTEMPTS": "1",
    }


async def test_lag_rises_without_a_worker_and_falls_with_one(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert tidings(env, "migrate").returncode == 0
    await emit(tmp_path / "tidings.sqlite3", Users(("alice",)), Users(("bob", "carol")))

    report, code = status(env, "--max-lag", "0")
    assert report["pending"] == 2 and report["dead"] == 0
    assert isinstance(report["lag_seconds"], float) and report["lag_seconds"] > 0
    assert code == 3  # lag above --max-lag: usable as a probe
    routed_before = report["routed_total"]
    assert isinstance(routed_before, int)

    assert tidings(env, "worker", "--burst").returncode == 0
    report, code = status(env, "--max-lag", "5")
    assert (report["pending"], report["lag_seconds"], code) == (0, 0.0, 0)
    assert report["routed_total"] == routed_before + 3


async def test_dead_record_is_listed_and_requeued(env: dict[str, str], tmp_path: Path) -> None:
    apply_sqlite(tmp_path / "tidings.sqlite3")
    await emit(tmp_path / "tidings.sqlite3", Group("team", "t1"))

    assert tidings(env, "worker", "--burst").returncode == 0  # no resolver for "team"
    report, _ = status(env)
    assert (report["pending"], report["dead"]) == (0, 1)
    listed = [
        json.loads(line) for line in tidings(env, "dead", "list", "--json").stdout.splitlines()
    ]
    assert [(row["event"], row["attempts"]) for row in listed] == [("cli.test", 1)]
    assert "UnknownGroup" in listed[0]["last_error"]
    assert "outbox_dead_records 1.0" in await scraped_metrics(tmp_path / "tidings.sqlite3")

    assert "re-queued 1" in tidings(env, "dead", "retry", listed[0]["id"]).stdout
    env["TIDINGS_RESOLVERS"] = "tests.worker:resolvers"
    assert tidings(env, "worker", "--burst").returncode == 0
    report, _ = status(env)
    assert (report["pending"], report["dead"]) == (0, 0)
    store = await SqliteStore.open(tmp_path / "tidings.sqlite3")
    try:
        assert [await store.head(user) for user in ("u1", "u3")] == [1, 1]
    finally:
        await store.close()


def test_invalid_settings_exit_2_naming_the_variable(env: dict[str, str]) -> None:
    env["TIDINGS_BATCH_SIZE"] = "-5"
    done = tidings(env, "status")
    assert done.returncode == 2
    assert "TIDINGS_BATCH_SIZE" in done.stderr


def test_dead_retry_of_unknown_id_fails(env: dict[str, str], tmp_path: Path) -> None:
    apply_sqlite(tmp_path / "tidings.sqlite3")
    done = tidings(env, "dead", "retry", "nope")
    assert (done.returncode, done.stdout.strip()) == (1, "re-queued 0 record(s)")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_process_of_its_own_refuses_the_in_process_broker(
    env: dict[str, str], command: str
) -> None:
    env["TIDINGS_REDIS_URL"] = "memory://"
    env["TIDINGS_JWT_SECRET"] = "x" * 32
    done = tidings(env, command)
    assert done.returncode == 2, done.stderr
    assert "TIDINGS_REDIS_URL=memory://" in done.stderr and "one process" in done.stderr
