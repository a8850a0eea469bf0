"""Every test that serves a real node runs once per WebSocket runtime.

``tidings serve`` carries ``/ws`` with its native runtime (``delivery/native.py``); a host's
app carries it through ASGI (``delivery/websocket.py``). Both must pass the same tests, so
every test in a module that starts nodes with ``running_node`` runs with each, chosen through
``TIDINGS_WS_RUNTIME`` (which ``make_settings`` reads like every other setting).
"""

import pytest

RUNTIMES = ("native", "asgi")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "running_node" in vars(metafunc.module) and "ws_runtime" in metafunc.fixturenames:
        metafunc.parametrize("ws_runtime", RUNTIMES, indirect=True)


@pytest.fixture(autouse=True)
def ws_runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The runtime serving ``/ws`` in this test's nodes (``None``: the test starts none)."""
    runtime: str | None = getattr(request, "param", None)
    if runtime is not None:
        monkeypatch.setenv("TIDINGS_WS_RUNTIME", runtime)
    return runtime
