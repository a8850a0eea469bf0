"""The lock-free histogram exposes exactly what prometheus_client's Histogram would."""

from prometheus_client import CollectorRegistry, Histogram

from delivery.metrics import LATENCY_BUCKETS, DeliveryMetrics
from foundation.histograms import LoopHistogram

VALUES = (0.0, 0.004, 0.005, 0.0051, 0.2, 1.0, 29.9, 30.0, 31.0, 1000.0)


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in registry.collect()
        if family.name == name
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_loop_histogram_matches_prometheus_client() -> None:
    reference_registry, loop_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("t_seconds", "t", buckets=LATENCY_BUCKETS, registry=reference_registry)
    loop = LoopHistogram("t_seconds", "t", LATENCY_BUCKETS)
    loop_registry.register(loop)
    for value in VALUES:
        reference.observe(value)
        loop.observe(value)
    expected = samples(reference_registry, "t_seconds")
    assert samples(loop_registry, "t_seconds") == expected
    assert expected[("t_seconds_bucket", "0.005")] == 3  # le is inclusive
    assert expected[("t_seconds_count", "")] == len(VALUES)


def test_frame_counts_by_type() -> None:
    metrics = DeliveryMetrics()
    for kind in ("notification", "notification", "welcome"):
        metrics.count_frame(kind)
    value = metrics.registry.get_sample_value
    assert value("ws_frames_sent_total", {"type": "notification"}) == 2
    assert value("ws_frames_sent_total", {"type": "welcome"}) == 1
