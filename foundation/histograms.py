"""Histograms for hot paths: plain bucket counts, folded into the exposition at scrape time.

``prometheus_client.Histogram.observe`` takes a lock and looks its bucket up on every call,
about 3 us here: too much once per frame or per routed notification. Both delivery nodes and
routing workers observe from their event loop's thread only, which needs neither.
"""

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class LoopHistogram(Collector):
    """A histogram observed from one thread only (the event loop's), without locks.

    Exposed like a ``prometheus_client.Histogram``: ``<name>_bucket``, ``_count``, ``_sum``.
    A scrape from another thread (the worker's metrics server) may see ``_sum`` one
    observation behind the buckets; the next scrape catches up.
    """

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = buckets
        self._counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self._sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation (``le`` bounds are inclusive, as in Prometheus)."""
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def observe_many(self, value: float, count: int) -> None:
        """Count ``count`` observations of the same ``value`` (frames written together)."""
        self._counts[bisect_left(self._bounds, value)] += count
        self._sum += value * count

    def collect(self) -> Iterator[Metric]:
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family = HistogramMetricFamily(self._name, self._documentation)
        family.add_metric([], buckets=buckets, sum_value=self._sum)
        yield family
