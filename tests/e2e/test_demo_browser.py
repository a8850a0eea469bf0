"""The demo in a real browser: ``python -m examples.demo`` as a subprocess, two users in
headless Chromium (``demo.e2e.mjs`` through playwright-core), and a second window of one of
them marking read, archiving and "mark all read" with the same badge in both windows.

Needs Node and Debian's ``/usr/bin/chromium``; skipped with the reason when either is missing.
The demo runs on a free loopback port with its own data directory and Redis database 13.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
E2E = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "test-artifacts" / "e2e-demo.png"
REDIS_URL = os.environ.get("TIDINGS_E2E_REDIS_URL", "redis://127.0.0.1:6379/13")
STARTUP_SECONDS = 20.0
SCRIPT_SECONDS = 45.0
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


def _demo_env(port: int, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIDINGS_")}
    env.update(
        TIDINGS_PORT=str(port),
        TIDINGS_DATA_DIR=str(data_dir),
        TIDINGS_REDIS_URL=REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    return env


def _run_browser(node: str, base: str) -> dict[str, Any]:
    env = dict(os.environ, DEMO_URL=base, SCREENSHOT=str(SCREENSHOT), CHROMIUM=str(CHROMIUM))
    done = subprocess.run(
        [node, "demo.e2e.mjs"],
        cwd=E2E,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_SECONDS,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output from the browser script:\n{done.stderr}"
    report: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == 0 and report["ok"], f"{report}\n{done.stderr}"
    return report


@pytest.mark.timeout(120)  # npm ci (only when node_modules is missing) + about 15 s
def test_two_users_see_transfers_live_and_after_reconnecting(tmp_path: Path) -> None:
    node, npm = _tools()
    _install_playwright(npm)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()
    SCREENSHOT.unlink(missing_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen(
            [sys.executable, "-m", "examples.demo"],
            cwd=ROOT,
            env=_demo_env(port, tmp_path / "data"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(base, demo, log)
        report = _run_browser(node, base)
    finally:
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            demo.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    output_text = log.read_text()
    assert f"open {base}/" in output_text
    assert demo.returncode == 0, output_text
    assert "routing worker" in output_text and "stopped" in output_text

    bob = report["bob"]
    assert bob["amounts"] == [7, 3, 5]
    assert bob["balance"] == bob["start"] + 15
    assert bob["seqs"] == list(range(1, len(bob["seqs"]) + 1))
    assert bob["events"][:3] == ["sbd_tokens_received"] * 3
    assert "family_member_joined" in bob["events"]
    assert "profile_updated" in report["alice"]["events"]
    assert report["badges"]["bob"] == report["badges"]["bobAgain"] == 0  # mark all read
    assert report["badges"]["before"] > 0
    assert SCREENSHOT.stat().st_size > 10_000
