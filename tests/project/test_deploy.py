"""The Grafana dashboard and the alert rules only use metrics that tidings exports."""

import json
import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from delivery.metrics import DeliveryMetrics
from outbox.worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
_PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile",
    "by", "without", "and", "or", "unless", "on", "ignoring", "bool",
}  # fmt: skip
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers and groupings removed)."""
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    words = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr)
    return {word for word in words if word not in _PROMQL_WORDS}


def exported(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def every_exported_name() -> set[str]:
    return exported(DeliveryMetrics().registry) | exported(WorkerMetrics().registry)


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "tidings.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_dashboard_uses_only_exported_metrics() -> None:
    used = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    assert used, "the dashboard queries no metric"
    assert used - every_exported_name() == set()


def test_alerts_use_only_exported_metrics() -> None:
    used = {name for expr in alert_exprs() for name in metric_names(expr)}
    assert {"outbox_lag_seconds", "outbox_dead_records"} <= used
    assert used - every_exported_name() == set()


def test_a_misspelled_metric_is_caught() -> None:
    names = metric_names('sum by (le) (rate(outbox_lag_second{code="1"}[5m])) > 0.5')
    assert names == {"outbox_lag_second"}
    assert names - every_exported_name() == {"outbox_lag_second"}


def test_dashboard_shows_what_operators_need() -> None:
    used = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    assert {
        "outbox_lag_seconds",
        "outbox_pending_records",
        "outbox_dead_records",
        "notifications_routed_total",
        "ws_connections",
        "delivery_latency_seconds_bucket",
        "routing_latency_seconds_bucket",
        "routed_to_written_seconds_bucket",
        "written_to_acked_seconds_bucket",
    } <= used
