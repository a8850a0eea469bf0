"""The adopter's guide's example apps, served as an adopter serves them: by a real uvicorn.

Each app is a file under ``docs/examples/`` that the guide shows whole; tests start it with
``uvicorn --app-dir docs/examples <module>:app`` in a process of its own, on a free loopback
port, with its output kept in a file so that tests can read every line it logged.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
SECRET = "adopter-secret-" + "s" * 32
STARTUP_SECONDS = 20.0


@dataclass
class ExampleServer:
    url: str
    log: Path

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    def output(self) -> str:
        """Everything the process wrote on stdout and stderr so far."""
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def example_server(
    module: str, tmp_path: Path, env: dict[str, str], *, log_level: str = "info"
) -> Iterator[ExampleServer]:
    """``uvicorn --app-dir docs/examples <module>:app`` until the block ends (then SIGTERM)."""
    port = free_port()
    log = tmp_path / f"{module}-{port}.log"
    command = [
        sys.executable,
        *("-m", "uvicorn", "--app-dir", str(EXAMPLES), f"{module}:app"),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", log_level),
    ]
    full_env = {**os.environ, "TIDINGS_JWT_SECRET": SECRET, **env}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=full_env, stdout=sink, stderr=sink)
    server = ExampleServer(f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(server: ExampleServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited ({process.returncode}):\n{server.output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)  # polling a starting process, with a deadline
    raise AssertionError(f"the app did not become ready:\n{server.output()}")
