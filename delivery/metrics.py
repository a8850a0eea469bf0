"""Prometheus metrics of a delivery node, in a registry of its own (no global state).

Outbox figures are read from the store at scrape time, so they are right whatever process
routes; ``notifications_routed_total`` is the count the workers add to Redis after each
routed batch (one INCRBY per batch), so it sums every worker.

Per-frame metrics are on the hot path (a node writes tens of thousands of frames a second),
so they avoid prometheus_client's per-call locks and label lookups: latency histograms are
plain bucket counts in the event loop's thread, folded into the exposition at scrape time,
and frame counters bind their label children once.
"""

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from foundation.histograms import LoopHistogram
from outbox.records import InboxEntry, LagFigures

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _RoutedCounter(Collector):
    """A counter whose value lives in Redis; set just before each scrape."""

    def __init__(self) -> None:
        self.value = 0

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "notifications_routed",
            "Inbox entries created by all workers (a counter kept in Redis)",
            value=self.value,
        )


class _Epochs:
    """Epoch seconds of datetimes, remembered for a while: every entry of a routed batch has
    the same ``routed_at``, and every recipient of a notification its ``created_at``."""

    __slots__ = ("_known",)

    LIMIT = 4096

    def __init__(self) -> None:
        self._known: dict[datetime, float] = {}

    def seconds(self, moment: datetime) -> float:
        known = self._known.get(moment)
        if known is None:
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
            known = self._known[moment] = aware.timestamp()
        return known


class DeliveryMetrics:
    """The metrics of the contract, plus a few that explain them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.pending = Gauge(
            "outbox_pending_records", "Outbox records not yet routed", registry=registry
        )
        self.lag = Gauge(
            "outbox_lag_seconds",
            "Age of the oldest unrouted record (0 when none)",
            registry=registry,
        )
        self.dead = Gauge("outbox_dead_records", "Outbox records that gave up", registry=registry)
        self.routed = _RoutedCounter()
        registry.register(self.routed)
        self.connections = Gauge(
            "ws_connections",
            "Open WebSocket connections (the hub's count, set at scrape)",
            registry=registry,
        )
        self.frames_sent = Counter(
            "ws_frames_sent", "Frames written to WebSocket clients", ["type"], registry=registry
        )
        self.closes = Counter(
            "ws_closes", "WebSocket connections closed, by close code", ["code"], registry=registry
        )
        self.delivery_latency = self._histogram(
            "delivery_latency_seconds", "Commit (emit) to notification frame written"
        )
        self.routed_to_written = self._histogram(
            "routed_to_written_seconds",
            "Routed into the inbox to notification frame written (live frames)",
        )
        self.written_to_acked = self._histogram(
            "written_to_acked_seconds",
            "Notification frame written to acknowledged by the client (live frames)",
        )
        self._frame_counters: dict[str, Counter] = {}
        self._epochs = _Epochs()

    def _histogram(self, name: str, documentation: str) -> LoopHistogram:
        histogram = LoopHistogram(name, documentation, LATENCY_BUCKETS)
        self.registry.register(histogram)
        return histogram

    def count_frame(self, frame_type: str) -> None:
        """Count one frame written, by type."""
        self.count_frames(frame_type, 1)

    def count_frames(self, frame_type: str, count: int) -> None:
        """Count ``count`` frames of one type written together (the label child is looked up
        once per type)."""
        counter = self._frame_counters.get(frame_type)
        if counter is None:
            counter = self._frame_counters[frame_type] = self.frames_sent.labels(frame_type)
        counter.inc(count)

    def observe_written(self, entries: Iterable[InboxEntry], now: float) -> None:
        """Commit-to-written and routed-to-written latency of live entries written at ``now``
        (epoch seconds), one observation of each per entry."""
        epoch = self._epochs.seconds
        delivery, routed = self.delivery_latency, self.routed_to_written
        for entry in entries:
            delivery.observe(max(0.0, now - epoch(entry.notification.created_at)))
            routed.observe(max(0.0, now - epoch(entry.routed_at)))

    def observe_outbox(self, figures: LagFigures, now: datetime, routed_total: int) -> None:
        """Set the outbox gauges from the store's figures, just before a scrape."""
        self.pending.set(figures.pending)
        self.dead.set(figures.dead)
        self.lag.set(figures.lag_seconds(now))
        self.routed.value = routed_total

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
