"""The Node socket.io peer of ``bench_delivery.py``: installing it, and driving its publisher.

The peer lives in ``bench/peers/socketio``: ``server.mjs`` (socket.io 4.8 with
``@socket.io/redis-adapter``, one room per user) and ``publisher.mjs``
(``@socket.io/redis-emitter``), with a committed ``package-lock.json``. Its packages are
installed with ``npm ci`` there, by :func:`install` when ``node_modules`` is missing or older
than the lockfile; the same by hand: ``npm ci --prefix bench/peers/socketio``.

What the peer receives per Redis message: one notification. The emitter publishes one
message per ``to(room).emit`` and a socket.io packet has one payload, so 50 notifications
for 50 users are 50 messages however they are sent; the publisher issues a batch's 50 emits
in one tick (one socket write to Redis), but the server's subscriber still reads, decodes
(msgpack) and dispatches 50 messages where tidings and the bare server decode one.
"""

import contextlib
import select
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson

PEER_DIR = Path(__file__).resolve().parent / "peers" / "socketio"
SERVER = PEER_DIR / "server.mjs"
PUBLISHER = PEER_DIR / "publisher.mjs"
PACKAGES = ("socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis")


def missing_tools() -> list[str]:
    """Which of ``node`` and ``npm`` are not on PATH."""
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def install() -> bool:
    """``npm ci`` in the peer's folder when its ``node_modules`` is missing or older than
    ``package-lock.json``; whether it ran. Raises ``RuntimeError`` with npm's output."""
    installed = PEER_DIR / "node_modules" / ".package-lock.json"
    lock = PEER_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return False
    npm = shutil.which("npm") or "npm"
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"npm ci in {PEER_DIR} took over 300 s") from None
    if done.returncode != 0:
        raise RuntimeError(
            f"npm ci in {PEER_DIR} failed (--no-node runs without the Node peer):\n"
            f"{done.stdout}{done.stderr}"
        )
    return True


def versions() -> str:
    """Node's version and the installed versions of the peer's packages."""
    node = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    found = []
    for name in PACKAGES:
        manifest = PEER_DIR / "node_modules" / name / "package.json"
        found.append(f"{name} {orjson.loads(manifest.read_bytes())['version']}")
    return f"Node {node.removeprefix('v')}, " + ", ".join(found)


def server_args(port: int, redis_url: str) -> list[str]:
    return ["node", "--expose-gc", str(SERVER), str(port), redis_url]


def publisher_args(redis_url: str, flow_limit: int, chunk: int) -> list[str]:
    return ["node", str(PUBLISHER), redis_url, str(flow_limit), str(chunk)]


class Audience(Protocol):
    """A server under test as the publisher sees it: its users, and the rounds sent so far
    (every user has seqs 1..rounds)."""

    users: list[str]
    rounds: int


class NodeEmitter:
    """``publisher.mjs``, driven by JSON lines; the interface of ``bench_delivery.Publisher``.

    ``template`` is one notification frame as tidings sends it (a dict); the emitter sends it
    with ``seq``, ``id`` and ``data["t"]`` filled in, as the payload of a ``notification``
    event.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        template: dict[str, Any],
        batch: int,
        log_tail: Callable[[], str],
    ) -> None:
        self.process = process
        self.template = template
        self.batch = batch
        self.log_tail = log_tail
        self.prepared = 0

    def call(self, within: float, /, **command: Any) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(orjson.dumps(command) + b"\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], within)
        line = stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(
                f"node publisher gave no answer to {command['cmd']}\n{self.log_tail()}"
            )
        answer: dict[str, Any] = orjson.loads(line)
        if "error" in answer:
            raise RuntimeError(f"node publisher: {answer['error']}")
        return answer

    def _rounds(self, audience: Audience, count: int) -> dict[str, Any]:
        first = audience.rounds + 1
        audience.rounds += count
        return {
            "users": audience.users,
            "first_seq": first,
            "rounds": count,
            "batch": self.batch,
            "template": self.template,
        }

    def prepare(self, audience: Audience, count: int) -> int:
        """Encode ``count`` rounds ahead of publishing; the frames they hold."""
        frames = count * len(audience.users)
        answer = self.call(60 + frames / 5_000, cmd="prepare", **self._rounds(audience, count))
        if answer["messages"] != frames:
            raise RuntimeError(f"node publisher prepared {answer['messages']} of {frames}")
        self.prepared = frames
        return frames

    def publish_prepared(self) -> None:
        """Publish what :meth:`prepare` encoded, as fast as the subscriber takes it."""
        self.call(120 + self.prepared / 500, cmd="publish")

    def publish_paced(self, audience: Audience, rounds: int, rate: int) -> None:
        within = 60 + rounds * len(audience.users) / rate
        self.call(within, cmd="paced", rate=rate, **self._rounds(audience, rounds))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(10, cmd="exit")
