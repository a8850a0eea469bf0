"""Every test that serves a real node runs once per WebSocket runtime and once per broker.

``tidings serve`` carries ``/ws`` with its native runtime (``delivery/native``); a host's app
carries it through ASGI (``delivery/websocket.py``). Both must pass the same tests, so every
test in a module that starts nodes with ``running_node`` runs with each, chosen through
``TIDINGS_WS_RUNTIME`` (which ``make_settings`` reads like every other setting).

Likewise for the broker: Redis, and ``memory://`` (one process, no Redis), through the
``redis_url`` the tests give ``make_settings``. In memory every node and worker a test starts
share one broker, as the parts of one process do (``tests.delivery.node.process_broker``). A
test that reaches Redis itself (publishing or subscribing with its own client) is marked
``redis_only``.
"""

import pytest

RUNTIMES = ("native", "asgi")
BROKERS = ("redis", "memory")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "running_node" not in vars(metafunc.module):
        return
    if "ws_runtime" in metafunc.fixturenames:
        metafunc.parametrize("ws_runtime", RUNTIMES, indirect=True)
    if "redis_url" in metafunc.fixturenames and not metafunc.definition.get_closest_marker(
        "redis_only"
    ):
        metafunc.parametrize("broker_kind", BROKERS, indirect=True)


@pytest.fixture(autouse=True)
def ws_runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The runtime serving ``/ws`` in this test's nodes (``None``: the test starts none)."""
    runtime: str | None = getattr(request, "param", None)
    if runtime is not None:
        monkeypatch.setenv("TIDINGS_WS_RUNTIME", runtime)
    return runtime


@pytest.fixture
def broker_kind(request: pytest.FixtureRequest) -> str:
    """Which broker this test's nodes and workers use."""
    kind: str = getattr(request, "param", "redis")
    return kind


@pytest.fixture
def redis_url(broker_kind: str, redis_url: str) -> str:
    """The shared suite's Redis, or ``memory://`` when this test runs on the memory broker."""
    return "memory://" if broker_kind == "memory" else redis_url
