"""Prometheus metrics of one routing worker, served on its own port.

Each worker process exposes ``/metrics`` on ``TIDINGS_WORKER_METRICS_PORT`` (unset: none).
Counters are this worker's own; sum them across workers in Prometheus. The contract's
``notifications_routed_total`` (the sum over all workers) is on the delivery nodes.
"""

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, start_http_server

from foundation.histograms import LoopHistogram
from outbox.records import Notification
from outbox.routing import RoutedBatch

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class WorkerMetrics:
    """Routed records and entries, failures, and commit-to-routed latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.batches = Counter(
            "worker_batches", "Routing rounds that claimed records", registry=registry
        )
        self.records = Counter("worker_records_routed", "Outbox records routed", registry=registry)
        self.entries = Counter("worker_entries_created", "Inbox entries created", registry=registry)
        self.failures = Counter(
            "worker_record_failures", "Failed routing attempts (retried or dead)", registry=registry
        )
        # Observed once per routed notification, from the event loop's thread only.
        self.routing_latency = LoopHistogram(
            "routing_latency_seconds", "Commit (emit) to routed, per notification", LATENCY_BUCKETS
        )
        registry.register(self.routing_latency)

    def observe(self, batch: RoutedBatch, now: datetime) -> None:
        """Count one round that routed at ``now``."""
        if not batch.claimed:
            return
        self.batches.inc()
        self.records.inc(batch.routed)
        self.entries.inc(len(batch.entries))
        self.failures.inc(batch.failed)
        for notification in _distinct(
            [entry.notification for entry in batch.entries] + list(batch.broadcasts)
        ):
            seconds = (now - notification.created_at).total_seconds()
            self.routing_latency.observe(max(0.0, seconds))

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` from a background thread; return the port."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        bound: int = self._server.server_address[1]
        return bound

    def stop(self) -> None:
        """Stop serving (no-op when not serving)."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()


def _distinct(notifications: Iterable[Notification]) -> list[Notification]:
    return list({notification.id: notification for notification in notifications}.values())
