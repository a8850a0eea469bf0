"""The demo in a real browser: ``python -m examples.demo`` as a subprocess, users in
headless Chromium (the ``*.e2e.mjs`` scenarios, through playwright-core).

Needs Node and Debian's ``/usr/bin/chromium``; skipped with the reason when either is missing.
Each test runs twice, on a fresh demo on a free loopback port with its own data directory:
on Redis (its own database: ``TIDINGS_E2E_REDIS_URL``, else ``TIDINGS_CLIENT_TEST_REDIS_URL``,
else database 13 of the local server; flushed first), and with no Redis at all
(``memory://``, the in-process broker). Screenshots go to ``tests/e2e/artifacts/`` (ignored by
git).
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from examples.demo import demo_settings
from examples.second_brain.catalog import EVENTS
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
E2E = Path(__file__).resolve().parent
ARTIFACTS = E2E / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
REDIS_URL = (
    os.environ.get("TIDINGS_E2E_REDIS_URL")
    or os.environ.get("TIDINGS_CLIENT_TEST_REDIS_URL")
    or "redis://127.0.0.1:6379/13"
)
STARTUP_SECONDS = 20.0
SCRIPT_SECONDS = 90.0
STOP_SECONDS = 15.0


def _tools() -> tuple[str, str]:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the browser test")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return node, npm


def _install_playwright(npm: str) -> None:
    if (E2E / "node_modules" / "playwright-core").is_dir():
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=E2E, check=True, timeout=60)


def _wait_healthy(base: str, demo: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            pytest.fail(f"the demo exited with {demo.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling a starting process, not waiting out a race
    pytest.fail(f"the demo did not answer /healthz within {STARTUP_SECONDS} s:\n{log.read_text()}")


def _demo_env(port: int, data_dir: Path, redis_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIDINGS_")}
    env.update(
        TIDINGS_PORT=str(port),
        TIDINGS_DATA_DIR=str(data_dir),
        TIDINGS_REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    return env


def _run_browser(node: str, base: str, script: str) -> dict[str, Any]:
    env = dict(os.environ, DEMO_URL=base, ARTIFACTS=str(ARTIFACTS), CHROMIUM=str(CHROMIUM))
    done = subprocess.run(
        [node, script],
        cwd=E2E,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_SECONDS,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output from {script}:\n{done.stderr}"
    report: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == 0 and report["ok"], f"{report}\n{done.stderr}"
    return report


class Demo:
    """A running ``python -m examples.demo``; :meth:`run` drives one scenario against it."""

    def __init__(self, node: str, base: str, log: Path) -> None:
        self.node = node
        self.base = base
        self.log = log

    def run(self, script: str) -> dict[str, Any]:
        return _run_browser(self.node, self.base, script)


@contextlib.contextmanager
def _running_demo(tmp_path: Path, redis_url: str) -> Iterator[Demo]:
    """A fresh demo (its own data, an empty Redis database) and Chromium; afterwards, the
    demo must have stopped cleanly on Ctrl-C."""
    node, npm = _tools()
    _install_playwright(npm)
    if redis_url.startswith("redis"):
        client = redis.Redis.from_url(redis_url)
        try:
            client.flushdb()
        finally:
            client.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.demo"],
            cwd=ROOT,
            env=_demo_env(port, tmp_path / "data", redis_url),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(base, process, log)
        yield Demo(node, base, log)
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output_text = log.read_text()
    assert f"open {base}/" in output_text
    assert process.returncode == 0, output_text
    assert "routing worker" in output_text and "stopped" in output_text


@pytest.fixture(params=["redis", "no-redis"])
def demo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo on Redis, and with no Redis at all: its signals inside its one process."""
    redis_url = REDIS_URL if request.param == "redis" else "memory://"
    with _running_demo(tmp_path, redis_url) as running:
        yield running


@pytest.mark.timeout(150)  # npm ci (only when node_modules is missing) + about 15 s
def test_two_users_see_transfers_live_and_after_reconnecting(demo: Demo) -> None:
    report = demo.run("demo.e2e.mjs")
    bob = report["bob"]
    assert bob["amounts"] == [7, 3, 5]
    assert bob["balance"] == bob["start"] + 15
    assert bob["seqs"] == list(range(1, len(bob["seqs"]) + 1))
    assert bob["events"] == ["new_device_login"] + ["sbd_tokens_received"] * 3
    badges = report["badges"]  # bob's two windows, after "mark all read" in one of them
    assert badges["before"] > 0 and badges["bob"] == badges["again"] == 0


@pytest.mark.timeout(150)
def test_every_event_of_the_catalog_reaches_its_audience_on_the_page(demo: Demo) -> None:
    report = demo.run("events.e2e.mjs")
    assert report["events"] == sorted(EVENTS)
    acting, other = report["feeds"]["alice"], report["feeds"]["alice2"]
    hidden = {item["event"] for item in acting if item["hidden"]}
    assert hidden == {"new_device_login", "appearance_updated", "password_changed"}
    assert "password_changed" in {item["event"] for item in other if not item["hidden"]}


@pytest.mark.timeout(150)
def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(demo: Demo) -> None:
    report = demo.run("password.e2e.mjs")
    assert report["ended"] == {"other": 4403}  # closed by the server, after password_changed
    assert report["refused"] == {"other": 4403, "acting": 4403}
    assert report["ticket"] == 403


@pytest.mark.timeout(150)
def test_the_page_on_desktop_and_phone_with_refusals_and_offline(demo: Demo) -> None:
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    report = demo.run("layout.e2e.mjs")
    assert report["phone"]["scrollWidth"] <= 390
    for shot in ("desktop.png", "phone-390.png"):
        assert (ARTIFACTS / shot).stat().st_size > 10_000


def test_the_demo_falls_back_to_the_in_process_broker_only_when_no_redis_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIDINGS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TIDINGS_REDIS_URL", raising=False)
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    assert demo_settings(local_redis=nobody).redis_url == "memory://"
    assert demo_settings(local_redis=REDIS_URL).redis_url == REDIS_URL
    monkeypatch.setenv("TIDINGS_REDIS_URL", nobody)  # named: kept, and waited for
    assert demo_settings().redis_url == nobody
