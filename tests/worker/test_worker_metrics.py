"""The worker's own /metrics: routed counts and commit-to-routed latency."""

import asyncio
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from outbox.records import InboxEntry, Notification, Users
from outbox.routing import RoutedBatch
from outbox.worker.arq_jobs import check_health
from outbox.worker.metrics import WorkerMetrics
from tests.delivery.node import emit, make_settings, running_worker
from tests.services import free_port

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def sample(metrics: WorkerMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def test_observe_counts_a_round_and_its_latency_once_per_notification() -> None:
    metrics = WorkerMetrics()
    note = Notification("n1", "e", {}, T0 - timedelta(milliseconds=30))
    broadcast = Notification("b1", "e", {}, T0 - timedelta(seconds=2))
    entries = tuple(InboxEntry(user, 1, note, T0) for user in ("a", "b", "c"))
    metrics.observe(RoutedBatch(5, 2, entries, (broadcast,), 3), T0)
    metrics.observe(RoutedBatch(0, 0, (), (), 0), T0)
    assert sample(metrics, "worker_batches_total") == 1
    assert sample(metrics, "worker_records_routed_total") == 2
    assert sample(metrics, "worker_entries_created_total") == 3
    assert sample(metrics, "worker_record_failures_total") == 3
    assert sample(metrics, "routing_latency_seconds_count") == 2
    assert sample(metrics, "routing_latency_seconds_sum") == pytest.approx(2.03)


async def test_worker_serves_its_metrics(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    settings = make_settings(tmp_path, redis_url, worker_metrics_port=port)
    async with running_worker(settings):
        await emit(settings, "hello", {}, Users(("alice", "bob")))
        deadline = time.monotonic() + 10
        text = ""
        while "worker_entries_created_total 2.0" not in text:
            assert time.monotonic() < deadline, text
            await asyncio.sleep(0.05)  # polling an HTTP endpoint until the round is counted
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
            )
        assert "routing_latency_seconds_count 1.0" in text


async def test_health_check_answers_while_a_worker_runs(
    tmp_path: Path, redis_url: str, redis_client: object
) -> None:
    settings = make_settings(tmp_path, redis_url)
    assert await asyncio.to_thread(check_health, settings) == 1  # redis_client flushed the db
    async with running_worker(settings):
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(check_health, settings) != 0:
            assert time.monotonic() < deadline, "no health key from the running worker"
            await asyncio.sleep(0.05)  # polling the health key until the arq loop writes it
