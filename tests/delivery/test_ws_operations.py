"""What operators see: logs without credentials, the metrics of the contract, the probes."""

import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.delivery.helpers import (
    StreamClient,
    bearer,
    close_code,
    commit,
    connect,
    emit_routed,
    for_user,
    metric_samples,
    metric_value,
    records,
    recv,
    start_stream,
    unique,
    until,
    wait_ready,
)
from tests.delivery.node import make_settings, running_node, running_worker, token

CONTRACT_METRICS = {
    "outbox_pending_records": "gauge",
    "outbox_lag_seconds": "gauge",
    "outbox_dead_records": "gauge",
    "notifications_routed": "counter",
    "ws_connections": "gauge",
    "ws_frames_sent": "counter",
    "delivery_latency_seconds": "histogram",
}


class Collect(logging.Handler):
    """Keeps every formatted line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def server_logs() -> Iterator[Collect]:
    """Every line logged on the server's loggers while the test runs (uvicorn's included)."""
    handler = Collect()
    names = ["", "uvicorn", "uvicorn.access", "uvicorn.error", "delivery", "websockets"]
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


async def test_tokens_and_tickets_never_reach_a_log_line(
    tmp_path: Path, redis_url: str, capfd: pytest.CaptureFixture[str], server_logs: Collect
) -> None:
    settings = make_settings(tmp_path, redis_url)
    user = unique("alice")
    secrets: list[str] = []
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        # running_node configured uvicorn's loggers; attach again so the handlers come after.
        for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).addHandler(server_logs)
        access = token(user)
        secrets.append(access)
        async with connect(node.ws(f"token={access}&since=0")) as ws:
            await start_stream(ws)
        response = await http.post("/ws/ticket", headers=bearer(access))
        ticket = response.json()["ticket"]
        secrets.append(ticket)
        async with connect(node.ws(f"since=0&ticket={ticket}")) as ws:
            assert (await recv(ws))["user_id"] == user
        async with connect(node.ws(f"ticket={ticket}")) as ws:  # refused: used
            assert await close_code(ws) == 4401
        refused = token(user, ttl=-60)
        secrets.append(refused)
        async with connect(node.ws(f"token={refused}")) as ws:
            assert await close_code(ws) == 4401
        refreshed = token(user, ttl=7200)
        secrets.append(refreshed)
        async with connect(node.ws("since=0"), additional_headers=bearer(access)) as ws:
            await start_stream(ws)
            await ws.send('{"type":"refresh","token":"' + refreshed + '"}')
            await ws.send('{"type":"refresh","token":"' + refreshed[:-4] + '"}')  # invalid
            assert await close_code(ws) == 4401
        await http.get(f"/notifications?token={access}", headers=bearer(access))
        await http.get(f"/nowhere?token={access}&ticket={ticket}")
        await http.get("/notifications", headers=bearer(refused))
        for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).removeHandler(server_logs)
    written = capfd.readouterr()
    everything = "\n".join([written.out, written.err, *server_logs.lines])
    assert '"WebSocket /ws?' in everything  # the access log was captured
    assert "GET /notifications?token=" in everything
    assert "[redacted]" in everything
    for secret in secrets:
        assert secret not in everything
        signature = secret.rsplit(".", 1)[-1]
        assert signature not in everything


async def test_metrics_expose_every_name_of_the_contract(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url)
    user = unique("alice")
    async with (
        running_node(settings) as node,
        running_worker(settings),
        httpx.AsyncClient(base_url=node.http) as http,
    ):
        await wait_ready(node)
        async with StreamClient(node.ws(f"token={token(user)}")) as client:
            await client.wait_for(lambda _: bool(client.of_type("caught_up")), "caught_up")
            await emit_routed(settings, 3, for_user(user))
            await client.wait_for_seq(3)
        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        families = await metric_samples(http)
        # The text format names a counter's family after its sample: ``<name>_total``.
        types = {
            name: _type_of(response.text, name) or _type_of(response.text, f"{name}_total")
            for name in CONTRACT_METRICS
        }
        assert types == CONTRACT_METRICS
        for name in CONTRACT_METRICS:
            assert families.get(name), name
        sample_names = {sample.name for samples in families.values() for sample in samples}
        assert {
            "notifications_routed_total",
            "ws_frames_sent_total",
            "delivery_latency_seconds_bucket",
            "delivery_latency_seconds_count",
            "delivery_latency_seconds_sum",
        } <= sample_names
        assert await metric_value(http, "outbox_pending_records") == 0
        assert await metric_value(http, "outbox_lag_seconds") == 0
        assert await metric_value(http, "outbox_dead_records") == 0
        assert await metric_value(http, "notifications_routed_total") >= 3
        assert await metric_value(http, "ws_frames_sent_total", type="notification") == 3
        assert await metric_value(http, "delivery_latency_seconds_count") == 3
        # A replay is history, not delivery latency.
        async with StreamClient(node.ws(f"token={token(user)}&since=0")) as replaying:
            await replaying.wait_for(lambda _: bool(replaying.of_type("caught_up")), "caught_up")
        assert await metric_value(http, "ws_frames_sent_total", type="notification") == 6
        assert await metric_value(http, "delivery_latency_seconds_count") == 3


def _type_of(text: str, name: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(f"# TYPE {name} "):
            return line.split()[-1]
    return None


async def test_pending_records_and_lag_show_before_routing(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, redis_url)
    await commit(settings, records(4, for_user(unique("alice"))))
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        assert await metric_value(http, "outbox_pending_records") == 4
        assert await metric_value(http, "outbox_lag_seconds") > 0


async def test_ws_connections_follows_connects_and_disconnects(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path, redis_url)
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:

        def connections(count: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return await metric_value(http, "ws_connections") == count

            return check

        assert await metric_value(http, "ws_connections") == 0
        async with connect(node.ws(f"token={token(unique('a'))}")) as first:
            await recv(first)
            assert await metric_value(http, "ws_connections") == 1
            async with connect(node.ws(f"token={token(unique('b'))}")) as second:
                await recv(second)
                assert await metric_value(http, "ws_connections") == 2
            await until(connections(1), 5, "ws_connections to drop to 1")
        await until(connections(0), 5, "ws_connections to drop to 0")
        async with connect(node.ws("token=garbage")) as refused:
            assert await close_code(refused) == 4401
        assert await metric_value(http, "ws_connections") == 0
