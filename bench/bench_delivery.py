"""Delivery benchmark: one tidings node against a bare ``websockets`` server and Node
socket.io, in one run.

Run: ``.venv/bin/python bench/bench_delivery.py [--quick] [--runs N] [--profile DIR]
[--shared-redis] [--no-node] [--before TREE]``. Needs ``redis-server`` on PATH, 2 CPUs,
and ``node`` and ``npm`` for the Node peer (``--no-node`` leaves it out; without them and
without the flag the benchmark stops at once and says so). The peer's packages are
installed with ``npm ci`` in ``bench/peers/socketio`` when missing or older than its
lockfile (``socketio_peer.py``).

A private Redis is started (database 11, flushed): pub/sub channels are server-wide, so on a
shared server this benchmark's traffic on ``tidings:live`` would reach every tidings node and
test subscribed there, and theirs would reach the node under test. ``--shared-redis`` uses
127.0.0.1:6379 database 11 instead (flushed; a warning is printed if something else is
subscribed to ``tidings:live``).

Placement: the server under test (``tidings serve``, ``bench/bare_server.py`` or the Node
peer's ``server.mjs``) is pinned to CPU 0; the load generator (``bench/loadgen.py``, 1,000
WebSocket clients, one per user), this process (the publisher), the Node publisher and the
private Redis are pinned to CPU 1. The four servers of the live phase (tidings, two bare
variants and Node socket.io) stay up together, each with its own clients and its own
channels, and take turns within each round of runs, so that a slow spell of the machine hits
every server rather than one. CPU used by any other process is measured and
runs where it exceeded 10% of a CPU are marked.

Traffic: live messages encoded with :func:`outbox.live_wire.encode_live_batch`, ``BATCH``
notifications per message, each for a different user with ~260 bytes of data holding the
publish time, published the way the worker does (on ``LIVE_CHANNEL`` for tidings, on a
channel of its own for each bare server). The bare server decodes them with
``decode_live_batch`` and sends ``encode_notification`` frames, so both send the same bytes.
The bare server runs twice: ``await`` (``await ws.send`` per frame, the baseline of the
target) and ``write`` (``websockets.broadcast``, a synchronous write per frame without
backpressure: a higher ceiling, and a check that the load generator keeps up).

tidings runs twice in the live phase: ``tidings serve`` (its native WebSocket runtime, and
uvloop when the ``server`` extra is installed) and ``tidings mounted``: the public mount API
(``Tidings(settings).mount(app)``) in a minimal FastAPI app served by plain ``uvicorn.run``
(``bench/mounted_host.py``), where ``/ws`` goes through ASGI. Each tidings node subscribes to
``LIVE_CHANNEL``, so each gets a private Redis of its own. ``--before TREE`` adds a third:
``tidings serve`` from another source tree (a ``git archive`` of an earlier commit), run as
it was installed then (without uvloop), in the live phase and in the storm, and a fourth in
the live phase: that tree's ``bench/mounted_host.py``, for before/after figures measured in
the same run.

The Node peer (socket.io 4.8 with ``@socket.io/redis-adapter``, one room per user, the token
in the CONNECT packet) gets the same notifications, seqs and publish-time stamps as a
``notification`` event, from ``@socket.io/redis-emitter`` in a Node publisher process: one
Redis message per notification, since the emitter publishes one message per
``to(room).emit``. The batch's 50 emits leave in one write to Redis, and the emitter's
messages are encoded before the timed part as the Python publisher's batches are, but the
peer's subscriber handles 50 messages where the others handle one: that is the peer's
mechanism, and part of what is measured. The load generator speaks Engine.IO v4 / Socket.IO
v5 to it over the same plain WebSocket client.

1. Live fan-out: frames delivered per second at the clients while the publisher publishes
   as fast as the subscriber's Redis output buffer allows (kept under ``FLOW_LIMIT_BYTES``
   so Redis never drops the subscriber), counted between 10% and 90% of the frames; then
   publish-to-receive latency at ``RATE`` frames/s.
2. Reconnect storm: 1,000 users with a backlog (records added to the embedded store and
   routed by ``tidings worker --burst``) reconnect at once with ``since = head - 100``.
3. Memory: the server's VmRSS with 0 and with 1,000 idle connections (after a warm-up of 10
   connections), without compression and, in full mode, with clients offering
   permessage-deflate (one throughput run then too; tidings and bare ``await`` only). The
   Node peer's RSS is read after a full collection (``global.gc()``, asked for by SIGUSR2).

``--profile DIR`` adds a throughput run and a storm (neither counted) with py-spy sampling
the tidings node, and leaves the collapsed stacks in ``DIR/live.txt`` and ``DIR/storm.txt``.

Figures are the median of 3 runs (1 with ``--quick``, N with ``--runs``). Every subprocess
is stopped at the end, on error and on Ctrl-C; a watchdog bounds the whole run (16 minutes,
5 with ``--quick``).
"""

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import os
import platform
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import socketio_peer  # noqa: E402

from foundation.constants import LIVE_CHANNEL  # noqa: E402
from outbox.live_wire import encode_live_batch  # noqa: E402
from outbox.records import InboxEntry, Notification, OutboxRecord, Users  # noqa: E402
from outbox.stores.sqlite.store import SqliteStore  # noqa: E402

PYTHON = sys.executable
TIDINGS = str(Path(sys.executable).with_name("tidings"))
SHARED_REDIS_URL = "redis://127.0.0.1:6379/11"
REDIS_DB = 11
SERVER_CPU = 0
CLIENT_CPU = 1
NOFILE = 16_384

USERS = 1000
BATCH = 50  # notifications per published message
DATA_BYTES = 260  # encoded size of each notification's data
RATE = 2000  # frames/s for the latency runs
FLOW_LIMIT_BYTES = 4 * 1024 * 1024  # pause publishing while a subscriber has this much queued
PUBLISH_CHUNK = 16  # messages per pipelined round trip, between two checks of that
SEND_QUEUE_SIZE = 100_000  # TIDINGS_SEND_QUEUE_SIZE: no 4408 while the clients lag behind
BACKLOG = 100  # entries each user replays in the storm
STORM_EXTRA = 20  # entries per user below the replayed ones
DISTURBED = 0.10  # a run is marked when another process took this share of a CPU
SOCKETIO = "Node socket.io"  # the label of the Node peer
MOUNTED = "tidings mounted"  # the label of tidings in a host's app (ASGI, plain uvicorn)
BEFORE = "tidings before"  # the label of tidings serve from another source tree (--before)
MOUNTED_BEFORE = "tidings mounted before"  # that tree's bench/mounted_host.py
# How --before runs `tidings serve` from that tree: as it was installed then, without uvloop.
# The tree goes first on the path: ahead of the working directory, which is this one's.
BEFORE_SERVE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.modules['uvloop'] = None;"
    " sys.argv = ['tidings', 'serve']; from tidings.cli import main; sys.exit(main())"
)
# The goals, each measured in the same run as what it is compared with.
GOAL_OVER_BARE = 0.8  # tidings serve / bare (await), delivered/s
GOAL_OVER_NODE = 1.1  # tidings serve / Node socket.io, delivered/s
GOAL_KIB = 16.0  # tidings serve, KiB per idle connection
GOAL_STORM_SECONDS = 2.0  # reconnect storm, all caught up
GOAL_MOUNTED_OVER_BARE = 0.6  # tidings mounted / bare (await), delivered/s
GOAL_MOUNTED_KIB = 24.0  # tidings mounted, KiB per idle connection


@dataclass(frozen=True)
class Config:
    runs: int
    throughput_frames: int
    latency_seconds: int
    deflate: bool  # one extra run with the clients offering permessage-deflate
    profile: Path | None
    watchdog_seconds: int
    shared_redis: bool
    node: bool  # the Node socket.io peer
    redis_url: str = SHARED_REDIS_URL
    # A Redis of its own for the mounted node (its hub subscribes to LIVE_CHANNEL, as tidings
    # serve's does, and pub/sub channels are server-wide). None: the mounted case is left out.
    mounted_redis_url: str | None = None
    # Another source tree whose `tidings serve` runs beside this one's (--before), with a
    # Redis of its own too.
    before: Path | None = None
    before_redis_url: str | None = None
    before_mounted_redis_url: str | None = None
    # A private Redis and the Node publisher, counted with the client side.
    helper_pids: tuple[int, ...] = ()


def config_from(args: argparse.Namespace) -> Config:
    node = not args.no_node
    if args.quick:
        cfg = Config(1, 60_000, 5, False, args.profile, 300, args.shared_redis, node)
    else:
        cfg = Config(3, 150_000, 10, True, args.profile, 960, args.shared_redis, node)
    if args.runs is not None:
        # About 45 s per round of runs; the watchdog keeps its margin.
        cfg = dataclasses.replace(
            cfg, runs=args.runs, watchdog_seconds=cfg.watchdog_seconds + 90 * args.runs
        )
    if args.before is not None:
        if args.shared_redis:
            raise SystemExit("--before needs the private Redis: leave out --shared-redis")
        # One more server in each round and in the storm.
        cfg = dataclasses.replace(
            cfg, before=args.before.resolve(), watchdog_seconds=cfg.watchdog_seconds + 360
        )
    return cfg


# --- Processes ------------------------------------------------------------------------------


class Processes:
    """Every subprocess started here; :meth:`stop_all` ends them (and only them)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[subprocess.Popen[bytes]] = []

    def start(
        self,
        name: str,
        args: list[str],
        *,
        cpu: int | None,
        env: dict[str, str] | None = None,
        pipes: bool = False,
    ) -> subprocess.Popen[bytes]:
        def prepare() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))

        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log,
            stderr=log,
            preexec_fn=prepare,
            start_new_session=True,  # Ctrl-C reaches this process only; it stops the others
        )
        log.close()
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(reversed(self.running)):
            with contextlib.suppress(Exception):
                self.stop(process, timeout=5.0)

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> dict[str, tuple[int, int]]:
    """(busy, total) jiffies of each CPU, from /proc/stat."""
    times = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values]
            times[name] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return times


def busy_share(before: dict[str, tuple[int, int]], cpu: int) -> float:
    """How busy ``cpu`` was since ``before``, whatever ran on it."""
    busy, total = cpu_times()[f"cpu{cpu}"]
    busy_before, total_before = before[f"cpu{cpu}"]
    return (busy - busy_before) / max(1, total - total_before)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Loadgen:
    """``bench/loadgen.py`` on the client CPU, one JSON line per command and per answer."""

    def __init__(self, processes: Processes, secret: str) -> None:
        env = dict(os.environ, BENCH_JWT_SECRET=secret)
        self.secret = secret
        self.processes = processes
        self.process = processes.start(
            "loadgen",
            [PYTHON, str(REPO / "bench" / "loadgen.py")],
            cpu=CLIENT_CPU,
            env=env,
            pipes=True,
        )

    def call(self, within: float, /, **command: Any) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(orjson.dumps(command) + b"\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [], within)
        line = stdout.readline() if ready else b""
        if not line:
            tail = self.processes.log_tail("loadgen")
            raise RuntimeError(f"load generator gave no answer to {command['cmd']}\n{tail}")
        answer: dict[str, Any] = orjson.loads(line)
        return answer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(30, cmd="exit")
        self.processes.stop(self.process)


# --- Servers under test ---------------------------------------------------------------------


class Feed(Protocol):
    """What publishes a server's traffic: :class:`Publisher`, or the Node peer's emitter."""

    def prepare(self, subject: "Subject", count: int) -> int:
        """Encode ``count`` rounds (one frame per user each) ahead; the frames they hold."""
        ...

    def publish_prepared(self) -> None:
        """Publish what :meth:`prepare` encoded, as fast as the server's subscriber takes it."""
        ...

    def publish_paced(self, subject: "Subject", rounds: int, rate: int) -> None:
        """``rounds`` rounds at ``rate`` frames/s, each batch stamped right before it leaves."""
        ...


@dataclass
class Subject:
    """One server under test, its users (one client each) and what was measured."""

    label: str
    process: subprocess.Popen[bytes]
    port: int
    channel: str  # where its live messages are published
    users: list[str]
    rounds: int = 0  # every user has been sent seqs 1..rounds
    protocol: str = "tidings"  # what the load generator speaks: "tidings" or "socketio"
    feed: Feed | None = None  # None: the Python publisher (Publisher)
    redis_client: redis.Redis | None = None  # where its feed publishes; None: the main Redis
    connect: dict[str, Any] = field(default_factory=dict)
    rss_idle: int = 0
    rss_connected: int = 0
    throughput: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)  # the larger share of either CPU
    disturbed: list[str] = field(default_factory=list)
    latency: list[tuple[float, float, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        if self.protocol == "socketio":
            return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_connected - self.rss_idle) / USERS


def user_names(prefix: str, count: int = USERS) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(count)]


def tidings_env(data_dir: Path, redis_url: str, secret: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(
        TIDINGS_DATA_DIR=str(data_dir),
        TIDINGS_REDIS_URL=redis_url,
        TIDINGS_JWT_SECRET=secret,
        TIDINGS_HOST="127.0.0.1",
        TIDINGS_PORT=str(port),
        TIDINGS_LOG_LEVEL="WARNING",
        TIDINGS_SEND_QUEUE_SIZE=str(SEND_QUEUE_SIZE),
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([TIDINGS, "migrate"], cwd=REPO, env=env, check=True, capture_output=True)


def start_tidings(
    procs: Processes, cfg: Config, data_dir: Path, secret: str, prefix: str
) -> Subject:
    """``tidings serve`` on the server CPU, its store migrated, once ``/readyz`` answers."""
    return start_node(procs, "tidings", [TIDINGS, "serve"], data_dir, cfg.redis_url, secret, prefix)


def start_mounted(
    procs: Processes,
    redis_url: str,
    data_dir: Path,
    secret: str,
    prefix: str,
    tree: Path = REPO,
    label: str = MOUNTED,
) -> Subject:
    """``bench/mounted_host.py`` of ``tree`` (tidings mounted in a host's FastAPI app, plain
    uvicorn) on the server CPU, with a Redis of its own."""
    args = [PYTHON, str(tree / "bench" / "mounted_host.py")]
    subject = start_node(procs, label, args, data_dir, redis_url, secret, prefix)
    subject.redis_client = redis.Redis.from_url(redis_url)
    return subject


def start_before(
    procs: Processes, cfg: Config, data_dir: Path, secret: str, prefix: str
) -> Subject:
    """``tidings serve`` from the ``--before`` tree, on the server CPU, with its own Redis."""
    assert cfg.before is not None and cfg.before_redis_url is not None
    args = [PYTHON, "-c", BEFORE_SERVE, str(cfg.before)]
    redis_url = cfg.before_redis_url
    subject = start_node(procs, BEFORE, args, data_dir, redis_url, secret, prefix)
    subject.redis_client = redis.Redis.from_url(redis_url)
    return subject


def start_node(
    procs: Processes,
    label: str,
    args: list[str],
    data_dir: Path,
    redis_url: str,
    secret: str,
    prefix: str,
) -> Subject:
    data_dir.mkdir(exist_ok=True)
    port = free_port()
    env = tidings_env(data_dir, redis_url, secret, port)
    migrate(env)
    log = label.replace(" ", "-")
    process = procs.start(log, args, cpu=SERVER_CPU, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return Subject(label, process, port, LIVE_CHANNEL, user_names(prefix))
        time.sleep(0.1)
    raise RuntimeError(f"{label} did not get ready\n" + procs.log_tail(log))


def start_bare(procs: Processes, cfg: Config, secret: str, send: str, prefix: str) -> Subject:
    """``bench/bare_server.py`` on the server CPU, on a channel of its own."""
    port = free_port()
    channel = f"bench:bare-{send}"
    env = dict(os.environ, BENCH_JWT_SECRET=secret)
    args = [PYTHON, str(REPO / "bench" / "bare_server.py"), str(port), cfg.redis_url]
    args += ["--send", send, "--channel", channel]
    process = procs.start("bare-server", args, cpu=SERVER_CPU, env=env, pipes=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    if not ready or process.stdout.readline().strip() != b"ready":
        raise RuntimeError("bare server did not get ready\n" + procs.log_tail("bare-server"))
    return Subject(f"bare ({send})", process, port, channel, user_names(prefix))


def start_socketio(procs: Processes, cfg: Config, secret: str, prefix: str, feed: Feed) -> Subject:
    """The Node peer's ``server.mjs`` on the server CPU, fed by ``feed`` (the emitter)."""
    port = free_port()
    env = dict(os.environ, BENCH_JWT_SECRET=secret)
    args = socketio_peer.server_args(port, cfg.redis_url)
    process = procs.start("socketio-server", args, cpu=SERVER_CPU, env=env, pipes=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    if not ready or process.stdout.readline().strip() != b"ready":
        tail = procs.log_tail("socketio-server")
        raise RuntimeError("socket.io server did not get ready\n" + tail)
    channel = "socket.io#/#user:*#"
    subject = Subject(SOCKETIO, process, port, channel, user_names(prefix), protocol="socketio")
    subject.feed = feed
    return subject


def start_emitter(
    procs: Processes, cfg: Config, publisher: "Publisher"
) -> socketio_peer.NodeEmitter:
    """The Node peer's publisher on the client CPU."""
    args = socketio_peer.publisher_args(cfg.redis_url, FLOW_LIMIT_BYTES, PUBLISH_CHUNK * BATCH)
    process = procs.start("socketio-publisher", args, cpu=CLIENT_CPU, pipes=True)
    template = orjson.loads(frame_of(publisher))
    return socketio_peer.NodeEmitter(
        process, template, BATCH, lambda: procs.log_tail("socketio-publisher")
    )


# --- Publisher ------------------------------------------------------------------------------


class Publisher:
    """Publishes live batches as the worker would, each user's seqs 1, 2, 3, ..."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self.note_ids = 0
        self.prepared: tuple[str, list[bytes], redis.Redis] = ("", [], client)
        base = len(orjson.dumps({"t": time.monotonic_ns(), "pad": ""}))
        self.pad = "x" * (DATA_BYTES - base)

    def message(self, users: list[str], seq: int) -> bytes:
        """One live message: one notification for each of ``users``, at ``seq``."""
        now = datetime.now(UTC)
        entries = []
        stamp = time.monotonic_ns()
        for user in users:
            self.note_ids += 1
            data = {"t": stamp, "pad": self.pad}
            note = Notification(f"{self.note_ids:032x}", "bench_event", data, now)
            entries.append(InboxEntry(user, seq, note, now))
        return encode_live_batch(entries, ())

    def rounds_of(self, subject: Subject, count: int) -> list[bytes]:
        """``count`` rounds (one frame per user each), encoded ahead of publishing."""
        messages = []
        users = subject.users
        for _ in range(count):
            subject.rounds += 1
            for start in range(0, len(users), BATCH):
                messages.append(self.message(users[start : start + BATCH], subject.rounds))
        return messages

    def prepare(self, subject: Subject, count: int) -> int:
        messages = self.rounds_of(subject, count)
        self.prepared = (subject.channel, messages, subject.redis_client or self.redis)
        return len(messages) * BATCH

    def publish_prepared(self) -> None:
        channel, messages, client = self.prepared
        self.prepared = ("", [], self.redis)
        self.publish_fast(channel, messages, client)

    def subscriber_backlog(self, client: redis.Redis) -> int:
        return max((int(c["omem"]) for c in client.client_list(_type="pubsub")), default=0)

    def publish_fast(self, channel: str, messages: list[bytes], client: redis.Redis) -> None:
        """Publish everything at once, pausing while a subscriber lags by FLOW_LIMIT_BYTES."""
        for start in range(0, len(messages), PUBLISH_CHUNK):
            with client.pipeline(transaction=False) as pipe:
                for message in messages[start : start + PUBLISH_CHUNK]:
                    pipe.publish(channel, message)
                pipe.execute()
            while self.subscriber_backlog(client) > FLOW_LIMIT_BYTES:
                time.sleep(0.002)

    def publish_paced(self, subject: Subject, rounds: int, rate: int) -> None:
        """``rounds`` rounds at ``rate`` frames/s, on an absolute schedule, each message
        encoded (with its publish time) right before it is published."""
        interval = BATCH / rate
        users = subject.users
        started = time.monotonic()
        sent = 0
        for _ in range(rounds):
            subject.rounds += 1
            for start in range(0, len(users), BATCH):
                delay = started + sent * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                message = self.message(users[start : start + BATCH], subject.rounds)
                (subject.redis_client or self.redis).publish(subject.channel, message)
                sent += 1


def frame_of(publisher: Publisher) -> bytes:
    """One notification frame as tidings and the bare server send it."""
    from delivery.frames import encode_notification
    from outbox.live_wire import decode_live_batch

    entry = decode_live_batch(publisher.message(["u0000"], 1)).entries[0]
    return encode_notification(entry).encode()


def frame_bytes(publisher: Publisher) -> tuple[int, int, int]:
    """Sizes of one notification's data, of its frame, and of the Node peer's frame."""
    frame = frame_of(publisher)
    data = orjson.loads(frame)["data"]
    socketio = b'42["notification",' + frame + b"]"
    return len(orjson.dumps(data)), len(frame), len(socketio)


# --- Measurements ---------------------------------------------------------------------------


def check_wait(problems: list[str], label: str, result: dict[str, Any]) -> None:
    if result["count"] < result["expect"]:
        problems.append(f"{label}: {result['count']} of {result['expect']} frames arrived")
    if result["gaps"]:
        problems.append(f"{label}: {result['gaps']} seq gaps")
    if result["closed_by_server"]:
        problems.append(f"{label}: {result['closed_by_server']} closed {result['closes']}")


def connect_clients(
    loadgen: Loadgen,
    subject: Subject,
    since: int | None,
    *,
    users: list[str] | None = None,
    group: str | None = None,
    deflate: bool = False,
) -> dict[str, Any]:
    """Connect every user (or ``users``) at once; wait for all their ``caught_up``."""
    cpu = cpu_seconds(subject.pid)
    result = loadgen.call(
        300,
        cmd="connect",
        group=group or subject.label,
        url=subject.url,
        users=users or subject.users,
        since=since,
        deflate=deflate,
        protocol=subject.protocol,
    )
    result["server_cpu"] = cpu_seconds(subject.pid) - cpu
    if result["failed"]:
        raise RuntimeError(f"{result['failed']} clients failed to connect: {result['failures']}")
    return result


def settled_rss(subject: Subject) -> int:
    """The server's VmRSS in KiB; the Node peer's after a full collection, since V8 collects
    lazily (without it, two quick runs read 21.7 and 38.7 KiB per connection)."""
    if subject.protocol == "socketio":
        assert subject.process.stdout is not None
        subject.process.send_signal(signal.SIGUSR2)
        ready, _, _ = select.select([subject.process.stdout], [], [], 10)
        answer = subject.process.stdout.readline().strip() if ready else b"nothing"
        if answer != b"collected":
            raise RuntimeError(f"{subject.label} answered {answer!r} to SIGUSR2, not collected")
    return rss_kib(subject.pid)


def connect_measuring_memory(loadgen: Loadgen, subject: Subject, deflate: bool = False) -> None:
    """RSS with 0 connections (after a 10-client warm-up) and with every user connected,
    and how connecting every user at once went."""
    connect_clients(loadgen, subject, 0, users=subject.users[:10], group="warm-up")
    loadgen.call(60, cmd="close", group="warm-up")
    time.sleep(1.0)
    subject.rss_idle = settled_rss(subject)
    subject.connect = connect_clients(loadgen, subject, 0, deflate=deflate)
    time.sleep(2.0)
    subject.rss_connected = settled_rss(subject)
    say(f"  {subject.label}: {subject.kib_per_connection:.1f} KiB per idle connection")


class CpuWatch:
    """CPU use during a run: the server, the client side (load generator, publisher, private
    Redis) and whatever else ran on either CPU (another process disturbing the run)."""

    def __init__(self, server_pid: int, client_pids: list[int]) -> None:
        self.pids = [server_pid, *client_pids]
        self.started = time.monotonic()
        self.cpus = cpu_times()
        self.used = [cpu_seconds(pid) for pid in self.pids]

    def shares(self) -> tuple[float, float, float, float]:
        """Server share, others on the server CPU, client side share, others on its CPU."""
        elapsed = time.monotonic() - self.started
        now = [cpu_seconds(pid) for pid in self.pids]
        used = [(after - before) / elapsed for after, before in zip(now, self.used, strict=True)]
        server, client = used[0], sum(used[1:])
        others_server = max(0.0, busy_share(self.cpus, SERVER_CPU) - server)
        others_client = max(0.0, busy_share(self.cpus, CLIENT_CPU) - client)
        return server, others_server, client, others_client

    def note_disturbance(self, label: str, notes: list[str]) -> float:
        """Note the run in ``notes`` when other processes took over ``DISTURBED`` of a CPU;
        return the larger share they took."""
        _, others_server, _, others_client = self.shares()
        if max(others_server, others_client) > DISTURBED:
            notes.append(
                f"{label} (other processes: {others_server:.0%} of CPU {SERVER_CPU},"
                f" {others_client:.0%} of CPU {CLIENT_CPU})"
            )
        return max(others_server, others_client)


def client_pids(loadgen: Loadgen, cfg: Config) -> list[int]:
    return [loadgen.process.pid, os.getpid(), *cfg.helper_pids]


def throughput_run(
    loadgen: Loadgen, publisher: Publisher, subject: Subject, cfg: Config, label: str
) -> float:
    """Publish ``cfg.throughput_frames`` as fast as the subject takes them; frames/s at the
    clients between 10% and 90% of them."""
    feed = subject.feed or publisher
    expect = feed.prepare(subject, cfg.throughput_frames // len(subject.users))
    loadgen.call(30, cmd="arm", expect=expect)
    watch = CpuWatch(subject.pid, client_pids(loadgen, cfg))
    feed.publish_prepared()
    result = loadgen.call(expect / 500 + 120, cmd="wait", timeout=expect / 500 + 60, stall=10)
    server, others_server, client, others_client = watch.shares()
    watch.note_disturbance(label, subject.disturbed)
    check_wait(subject.problems, label, result)
    window = (result["high_ns"] - result["low_ns"]) / 1e9
    rate = (result["mark_high"] - result["mark_low"]) / window if window > 0 else 0.0
    subject.server_cpu.append(server)
    subject.client_cpu.append(client)
    subject.others.append(max(others_server, others_client))
    say(
        f"  {label}: {rate:,.0f} frames/s (server CPU {server:.0%}, client side {client:.0%};"
        f" other processes: {others_server:.0%} of CPU {SERVER_CPU},"
        f" {others_client:.0%} of CPU {CLIENT_CPU})"
    )
    return rate


def latency_run(
    loadgen: Loadgen, publisher: Publisher, subject: Subject, cfg: Config, label: str
) -> None:
    rounds = max(1, RATE * cfg.latency_seconds // len(subject.users))
    loadgen.call(30, cmd="arm", expect=rounds * len(subject.users))
    watch = CpuWatch(subject.pid, client_pids(loadgen, cfg))
    (subject.feed or publisher).publish_paced(subject, rounds, RATE)
    result = loadgen.call(120, cmd="wait", timeout=30, stall=5)
    watch.note_disturbance(label, subject.disturbed)
    check_wait(subject.problems, label, result)
    subject.latency.append((result["p50_ms"], result["p99_ms"], result["max_ms"]))
    say(
        f"  {subject.label} at {RATE:,} frames/s: p50 {result['p50_ms']:.2f} ms,"
        f" p99 {result['p99_ms']:.2f} ms"
    )


def rotated[T](items: list[T], run: int) -> list[T]:
    """``items`` starting at ``run``: each run changes which server goes first."""
    shift = run % len(items)
    return items[shift:] + items[:shift]


def interleaved_runs(
    loadgen: Loadgen, publisher: Publisher, subjects: list[Subject], cfg: Config
) -> None:
    """Throughput then latency runs, one server after the other in each round, so that a
    slow spell of the machine hits every server rather than one."""
    for run in range(cfg.runs):
        for subject in rotated(subjects, run):
            label = f"{subject.label} run {run + 1}"
            rate = throughput_run(loadgen, publisher, subject, cfg, label)
            subject.throughput.append(rate)
    timed = [subject for subject in subjects if subject.label != "bare (write)"]
    for run in range(cfg.runs):
        for subject in rotated(timed, run):
            label = f"{subject.label} latency run {run + 1}"
            latency_run(loadgen, publisher, subject, cfg, label)


@contextlib.contextmanager
def recording(procs: Processes, pid: int, out: Path) -> Iterator[None]:
    """py-spy sampling ``pid`` while the block runs (collapsed stacks in ``out``)."""
    pyspy = Path(PYTHON).with_name("py-spy")
    if not pyspy.exists():
        say("  py-spy not found (pip install py-spy): no profile")
        yield
        return
    args = [str(pyspy), "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
    args += ["--threads", "--output", str(out)]
    recorder = procs.start("py-spy", args, cpu=CLIENT_CPU)
    time.sleep(1.0)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            recorder.wait(30)
        procs.stop(recorder)
        say(f"  collapsed stacks in {out}")


@dataclass
class Deflate:
    """Clients offering permessage-deflate: one throughput run and memory per server."""

    throughput: dict[str, float] = field(default_factory=dict)
    kib: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    disturbed: list[str] = field(default_factory=list)


def live_phase(
    procs: Processes,
    loadgen: Loadgen,
    publisher: Publisher,
    emitter: Feed | None,
    cfg: Config,
    tmp: Path,
) -> list[Subject]:
    """The servers up at once, each with its 1,000 clients; interleaved runs. Returns them
    in the order bare (await), bare (write), tidings[, tidings mounted when it has a Redis of
    its own][, Node socket.io with ``emitter``].

    Each server's memory is measured as soon as it is up, before the next one starts: an
    idle Node process hands memory back to the system after some seconds (V8's memory
    reducer), so its 0-connection RSS depended on how long it had waited for the others
    (30 KiB per connection after 15 s idle, 22 KiB right after its start)."""
    say("live fan-out")
    secret = loadgen.secret
    starts: list[Callable[[], Subject]] = [
        lambda: start_bare(procs, cfg, secret, "await", "a"),
        lambda: start_bare(procs, cfg, secret, "write", "w"),
        lambda: start_tidings(procs, cfg, tmp / "live", secret, "t"),
    ]
    if cfg.before is not None:
        starts.append(lambda: start_before(procs, cfg, tmp / "before", secret, "b"))
    mounted_redis = cfg.mounted_redis_url
    if mounted_redis is not None:
        starts.append(lambda: start_mounted(procs, mounted_redis, tmp / "mounted", secret, "m"))
    before_mounted = cfg.before_mounted_redis_url
    if cfg.before is not None and before_mounted is not None:
        tree = cfg.before
        starts.append(
            lambda: start_mounted(
                procs, before_mounted, tmp / "mounted-before", secret, "k", tree, MOUNTED_BEFORE
            )
        )
    if emitter is not None:
        starts.append(lambda: start_socketio(procs, cfg, secret, "n", emitter))
    subjects = []
    for start in starts:
        subjects.append(start())
        connect_measuring_memory(loadgen, subjects[-1])
    interleaved_runs(loadgen, publisher, subjects, cfg)
    if cfg.profile is not None:
        profiled = (
            (subjects[2], "live"),
            (labelled(subjects, MOUNTED), "mounted"),
            (labelled(subjects, BEFORE), "before"),
        )
        for subject, name in profiled:
            if subject is not None:
                profile_run(procs, loadgen, publisher, subject, cfg, cfg.profile / f"{name}.txt")
    loadgen.call(60, cmd="close")
    for subject in subjects:
        procs.stop(subject.process)
    return subjects


def profile_run(
    procs: Processes,
    loadgen: Loadgen,
    publisher: Publisher,
    subject: Subject,
    cfg: Config,
    out: Path,
) -> None:
    """One more throughput run, not counted, with py-spy sampling the server."""
    # A copy keeps this run's figures out of the subject's (its seqs continue from it).
    profiled = dataclasses.replace(
        subject, server_cpu=[], client_cpu=[], others=[], disturbed=[], problems=[]
    )
    with recording(procs, subject.pid, out):
        label = f"{subject.label}: profiled run (not counted)"
        throughput_run(loadgen, publisher, profiled, cfg, label)


def labelled(subjects: list[Subject], label: str) -> Subject | None:
    return next((subject for subject in subjects if subject.label == label), None)


def deflate_phase(
    procs: Processes, loadgen: Loadgen, publisher: Publisher, cfg: Config, tmp: Path
) -> Deflate:
    say("clients offering permessage-deflate")
    found = Deflate()
    subjects = [
        start_bare(procs, cfg, loadgen.secret, "await", "da"),
        start_tidings(procs, cfg, tmp / "deflate", loadgen.secret, "dt"),
    ]
    for subject in subjects:
        connect_measuring_memory(loadgen, subject, deflate=True)
        found.kib[subject.label] = subject.kib_per_connection
    for subject in subjects:
        label = f"{subject.label} + deflate"
        found.throughput[subject.label] = throughput_run(loadgen, publisher, subject, cfg, label)
        found.problems += subject.problems
        found.disturbed += subject.disturbed
    loadgen.call(60, cmd="close")
    for subject in subjects:
        procs.stop(subject.process)
    return found


# --- Reconnect storm ------------------------------------------------------------------------


@dataclass
class Storm:
    setup_add: float = 0.0
    setup_route: float = 0.0
    entries: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    before_runs: list[dict[str, Any]] = field(default_factory=list)  # --before's node
    problems: list[str] = field(default_factory=list)
    disturbed: list[str] = field(default_factory=list)


def storm_record(users: tuple[str, ...], index: int, pad: str) -> OutboxRecord:
    record_id = f"{index:032x}"
    return OutboxRecord(
        id=record_id,
        notification_id=record_id,
        event="bench_backlog",
        data={"t": 0, "pad": pad},
        audience=Users(users),
        created_at=datetime.now(UTC),
    )


async def fill_store(path: Path, users: list[str], records: int, pad: str) -> None:
    """``records`` records, each for every user: ``records`` entries per user once routed."""
    store = await SqliteStore.open(path)
    try:
        audience = tuple(users)
        for start in range(0, records, 10):
            chunk = range(start, min(records, start + 10))
            await store.add_records([storm_record(audience, i, pad) for i in chunk])
    finally:
        await store.close()


async def read_heads(path: Path, users: list[str]) -> set[int]:
    store = await SqliteStore.open(path)
    try:
        return {await store.head(user) for user in users}
    finally:
        await store.close()


def prepare_storm(
    procs: Processes, cfg: Config, data_dir: Path, users: list[str], pad: str, storm: Storm
) -> int:
    """Add the backlog's records and route them; return the head every user then has."""
    env = tidings_env(data_dir, cfg.redis_url, "unused-" + "x" * 32, 0)
    data_dir.mkdir(exist_ok=True)
    migrate(env)
    records = BACKLOG + STORM_EXTRA
    started = time.perf_counter()
    asyncio.run(fill_store(data_dir / "tidings.sqlite3", users, records, pad))
    storm.setup_add = time.perf_counter() - started
    started = time.perf_counter()
    worker = procs.start("tidings-worker", [TIDINGS, "worker", "--burst"], cpu=None, env=env)
    if worker.wait(300) != 0:
        raise RuntimeError("tidings worker --burst failed\n" + procs.log_tail("tidings-worker"))
    procs.stop(worker)
    storm.setup_route = time.perf_counter() - started
    heads = asyncio.run(read_heads(data_dir / "tidings.sqlite3", users))
    if heads != {records}:
        raise RuntimeError(f"unexpected heads after routing: {sorted(heads)[:5]}")
    storm.entries = records * len(users)
    return records


def storm_run(
    loadgen: Loadgen, subject: Subject, head: int, cfg: Config, storm: Storm, label: str
) -> None:
    expected = BACKLOG * len(subject.users)
    watch = CpuWatch(subject.pid, client_pids(loadgen, cfg))
    result = connect_clients(loadgen, subject, head - BACKLOG)
    watch.note_disturbance(label, storm.disturbed)
    if result["replayed"] != expected or result["gaps"]:
        storm.problems.append(
            f"{label}: {result['replayed']} of {expected} frames replayed,"
            f" {result['gaps']} seq gaps"
        )
    say(
        f"  {label}: all caught up in {result['seconds']:.2f} s,"
        f" {result['replayed'] / result['seconds']:,.0f} frames/s"
        f" (server CPU {result['server_cpu'] / result['seconds']:.0%})"
    )
    loadgen.call(60, cmd="close")
    time.sleep(1.0)
    storm.runs.append(result)


def storm_phase(
    procs: Processes, loadgen: Loadgen, publisher: Publisher, cfg: Config, tmp: Path
) -> Storm:
    say("reconnect storm")
    storm = Storm()
    data_dir = tmp / "storm"
    head = prepare_storm(procs, cfg, data_dir, user_names("s"), publisher.pad, storm)
    say(f"  setup: add records {storm.setup_add:.1f} s, route {storm.setup_route:.1f} s")
    subject = start_tidings(procs, cfg, data_dir, loadgen.secret, "s")
    for run in range(cfg.runs):
        storm_run(loadgen, subject, head, cfg, storm, f"storm run {run + 1}")
    if cfg.profile is not None:
        with recording(procs, subject.pid, cfg.profile / "storm.txt"):
            storm_run(loadgen, subject, head, cfg, Storm(), "profiled storm (not counted)")
    procs.stop(subject.process)
    if cfg.before is not None:
        subject = start_before(procs, cfg, data_dir, loadgen.secret, "s")
        before = Storm()
        for run in range(cfg.runs):
            storm_run(loadgen, subject, head, cfg, before, f"{BEFORE}: storm run {run + 1}")
        storm.before_runs, storm.problems = before.runs, storm.problems + before.problems
        storm.disturbed += before.disturbed
        procs.stop(subject.process)
    return storm


# --- Report ---------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine() -> str:
    models = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("websockets", "uvicorn", "starlette", "redis", "hiredis", "orjson")
    )
    return (
        f"machine: nproc {os.cpu_count()}, {models[0] if models else platform.processor()},"
        f" Python {platform.python_version()}, Linux {platform.release()}\n"
        f"packages: {versions}"
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def live_row(subject: Subject, width: int) -> str:
    runs = " ".join(
        f"{v / 1000:.1f}k{'*' if others > DISTURBED else ''}"
        for v, others in zip(subject.throughput, subject.others, strict=True)
    )
    if subject.latency:
        p50 = median([lat[0] for lat in subject.latency])
        p99 = median([lat[1] for lat in subject.latency])
        worst = max(lat[2] for lat in subject.latency)
        latency = f"{p50:>7.2f} {p99:>7.2f} {worst:>7.2f}"
    else:
        latency = f"{'-':>7} {'-':>7} {'-':>7}"
    return (
        f"{subject.label:<16} {median(subject.throughput):>9,.0f} {runs:<{width}}"
        f" {median(subject.server_cpu):>7.0%} {median(subject.client_cpu):>7.0%}"
        f" {max(subject.others):>7.0%} {latency}"
    )


def print_live(subjects: list[Subject], deflate: Deflate | None) -> None:
    bare, _, tidings = subjects[:3]
    width = max(12, 7 * len(tidings.throughput))
    node = labelled(subjects, SOCKETIO)
    peer = f" ({SOCKETIO}: 1 per message, from @socket.io/redis-emitter)" if node else ""
    print(f"\n1. Live fan-out: {USERS:,} clients, {BATCH} notifications per pub/sub message{peer}")
    print(
        f"{'server':<16} {'frames/s':>9} {'(runs)':<{width}} {'server':>7} {'clients':>7}"
        f" {'others':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for subject in subjects:
        print(live_row(subject, width))
    print(
        f"server / clients: median CPU share of the server process (CPU {SERVER_CPU}) and of"
        f" the load generator, publishers and private Redis (CPU {CLIENT_CPU}); others: the"
        " largest share of either CPU taken by any other process in a run (* marks runs where"
        f" it was over {DISTURBED:.0%}); p50/p99: medians of the runs' percentiles at"
        f" {RATE:,} frames/s; max: the worst of all runs"
    )
    fastest = max(max(s.throughput) for s in subjects)
    print(
        f"load generator check: it took up to {fastest:,.0f} frames/s in these runs,"
        f" {fastest / median(tidings.throughput):.1f}x tidings' median"
    )
    if deflate is not None:
        bare_rate, rate = deflate.throughput[bare.label], deflate.throughput[tidings.label]
        print(
            f"clients offering permessage-deflate (as browsers do), 1 run each: {bare.label}"
            f" {bare_rate:,.0f} frames/s, tidings {rate:,.0f} frames/s ({rate / bare_rate:.2f})"
        )


def print_storm(storm: Storm, subjects: list[Subject]) -> None:
    print(f"\n2. Reconnect storm: {USERS:,} clients at once, {BACKLOG} entries each to replay")
    print(
        f"setup: {storm.entries:,} inbox entries ({BACKLOG + STORM_EXTRA} per user): add records"
        f" {storm.setup_add:.1f} s, tidings worker --burst {storm.setup_route:.1f} s"
    )
    seconds = [run["seconds"] for run in storm.runs]
    width = max(16, 6 * len(seconds))
    print(
        f"{'case':<40} {'all caught up s':>15} {'(runs)':<{width}} {'frames/s':>9}"
        f" {'srv CPU':>7} {'client p50/p99 s':>16}"
    )
    for label, found in (("tidings", storm.runs), (BEFORE, storm.before_runs)):
        if found:
            print(storm_row(f"{label}, replay since head-100", found, width))
    for subject in (subjects[2], subjects[0], *subjects[3:]):
        label = f"{subject.label}, connect only, no replay"
        c = subject.connect
        print(
            f"{label:<40} {c['seconds']:>15.2f} {'1 run':<{width}} {'-':>9}"
            f" {c['server_cpu'] / c['seconds']:>7.0%} {c['ttcu_p50']:>7.2f}/{c['ttcu_p99']:<8.2f}"
        )


def storm_row(label: str, runs: list[dict[str, Any]], width: int) -> str:
    seconds = [run["seconds"] for run in runs]
    rates = [run["replayed"] / run["seconds"] for run in runs]
    p50 = median([run["ttcu_p50"] for run in runs])
    p99 = median([run["ttcu_p99"] for run in runs])
    cpu = median([run["server_cpu"] / run["seconds"] for run in runs])
    listed = " ".join(f"{s:.2f}" for s in seconds)
    return (
        f"{label:<40} {median(seconds):>15.2f} {listed:<{width}}"
        f" {median(rates):>9,.0f} {cpu:>7.0%} {p50:>7.2f}/{p99:<8.2f}"
    )


def print_memory(subjects: list[Subject], deflate: Deflate | None) -> None:
    gc = f" ({SOCKETIO}'s after a full V8 collection)" if labelled(subjects, SOCKETIO) else ""
    print(f"\n3. Memory: server VmRSS with 0 and {USERS:,} idle connections{gc}")
    print(
        f"{'server':<16} {'0 conns KiB':>12} {'1,000 KiB':>10} {'KiB/conn':>9}"
        f" {'with deflate KiB/conn':>22}"
    )
    for subject in subjects:
        kib = deflate.kib.get(subject.label) if deflate else None
        print(
            f"{subject.label:<16} {subject.rss_idle:>12,} {subject.rss_connected:>10,}"
            f" {subject.kib_per_connection:>9.1f} {f'{kib:.1f}' if kib else '-':>22}"
        )


def p99_of(subject: Subject) -> float:
    return median([lat[1] for lat in subject.latency])


def print_summary(subjects: list[Subject], storm: Storm) -> None:
    """The goals, each figure against what it is compared with in this run."""
    bare, bare_write, tidings = subjects[:3]
    delivered = median(tidings.throughput)
    print("\n4. The goals (ratios within this run)")
    ratio = delivered / median(bare.throughput)
    print(
        f"tidings / {bare.label} (the bare batched server), delivered/s: {ratio:.3f}"
        f" (goal >= {GOAL_OVER_BARE}): {verdict(ratio >= GOAL_OVER_BARE)};"
        f" tidings / {bare_write.label}: {delivered / median(bare_write.throughput):.3f}"
    )
    node = labelled(subjects, SOCKETIO)
    if node is not None:
        ratio = delivered / median(node.throughput)
        print(
            f"tidings / {node.label}, delivered/s: {ratio:.3f} (goal >= {GOAL_OVER_NODE}):"
            f" {verdict(ratio >= GOAL_OVER_NODE)}"
        )
    peers = [subject for subject in (bare, node) if subject is not None]
    worst = min(p99_of(peer) for peer in peers)
    print(
        f"p99 at {RATE:,} frames/s: tidings {p99_of(tidings):.2f} ms; "
        + "; ".join(f"{peer.label} {p99_of(peer):.2f} ms" for peer in peers)
        + f" (goal: no worse than either): {verdict(p99_of(tidings) <= worst)}"
    )
    kib = tidings.kib_per_connection
    print(
        f"tidings, KiB per idle connection: {kib:.1f} (goal <= {GOAL_KIB:.0f}):"
        f" {verdict(kib <= GOAL_KIB)}"
    )
    seconds = median([run["seconds"] for run in storm.runs])
    print(
        f"reconnect storm, all caught up: {seconds:.2f} s (goal <= {GOAL_STORM_SECONDS:.0f} s):"
        f" {verdict(seconds <= GOAL_STORM_SECONDS)}"
    )
    mounted = labelled(subjects, MOUNTED)
    if mounted is not None:
        ratio = median(mounted.throughput) / median(bare.throughput)
        kib = mounted.kib_per_connection
        print(
            f"{mounted.label} / {bare.label}, delivered/s: {ratio:.3f}"
            f" (goal >= {GOAL_MOUNTED_OVER_BARE}): {verdict(ratio >= GOAL_MOUNTED_OVER_BARE)};"
            f" KiB per idle connection: {kib:.1f} (goal <= {GOAL_MOUNTED_KIB:.0f}):"
            f" {verdict(kib <= GOAL_MOUNTED_KIB)}; p99 at {RATE:,} frames/s:"
            f" {p99_of(mounted):.2f} ms"
        )
        mounted_before = labelled(subjects, MOUNTED_BEFORE)
        if mounted_before is not None:
            print(
                f"{mounted.label} / {mounted_before.label}: delivered/s"
                f" {median(mounted.throughput) / median(mounted_before.throughput):.2f}x;"
                f" KiB per idle connection {kib:.1f} against"
                f" {mounted_before.kib_per_connection:.1f}"
            )
    before = labelled(subjects, BEFORE)
    if before is not None:
        seconds_before = median([run["seconds"] for run in storm.before_runs])
        print(
            f"tidings / {before.label}: delivered/s"
            f" {delivered / median(before.throughput):.2f}x; KiB per idle connection"
            f" {tidings.kib_per_connection:.1f} against {before.kib_per_connection:.1f};"
            f" storm {seconds:.2f} s against {seconds_before:.2f} s"
        )
    print(
        "KiB per idle connection: "
        + "; ".join(f"{subject.label} {subject.kib_per_connection:.1f}" for subject in subjects)
    )


def print_report(
    header: list[str],
    subjects: list[Subject],
    deflate: Deflate | None,
    storm: Storm,
    times: str,
) -> None:
    print("\n".join(header))
    print_live(subjects, deflate)
    print_storm(storm, subjects)
    print_memory(subjects, deflate)
    print_summary(subjects, storm)
    problems = [p for s in subjects for p in s.problems] + storm.problems
    problems += deflate.problems if deflate else []
    clean = "none (every frame arrived, in seq order, no connection closed by a server)"
    print("\nproblems: " + ("; ".join(problems) if problems else clean))
    disturbed = [d for s in subjects for d in s.disturbed] + storm.disturbed
    disturbed += deflate.disturbed if deflate else []
    print(
        f"runs disturbed by other processes (over {DISTURBED:.0%} of a CPU): "
        + ("; ".join(disturbed) if disturbed else "none")
    )
    print(f"total time: {times}")


# --- Main -----------------------------------------------------------------------------------


def check_machine() -> None:
    if not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        raise SystemExit("bench_delivery needs CPUs 0 and 1 (server on one, clients on the other)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < NOFILE:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} < {NOFILE}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))
    os.sched_setaffinity(0, {CLIENT_CPU})


def start_redis(procs: Processes) -> tuple[str, int]:
    """A private redis-server on the client CPU (pub/sub channels are server-wide: the
    traffic of this benchmark on ``LIVE_CHANNEL`` would reach every tidings node and test
    subscribed on a shared server, and theirs would reach the node under test)."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not on PATH: install it, or pass --shared-redis")
    port = free_port()
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    args += ["no", "--databases", "16"]
    process = procs.start("redis", args, cpu=CLIENT_CPU)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                tail = procs.log_tail("redis")
                raise RuntimeError("redis-server did not start\n" + tail) from None
            time.sleep(0.05)
    client.close()
    return f"redis://127.0.0.1:{port}/{REDIS_DB}", process.pid


def prepare_redis(client: redis.Redis, cfg: Config) -> str:
    client.flushdb()
    [(_, subscribers)] = client.pubsub_numsub(LIVE_CHANNEL)
    version = client.info("server")["redis_version"]
    where = cfg.redis_url.rsplit("/", 1)[0].removeprefix("redis://")
    if cfg.shared_redis:
        note = f"Redis {version} on {where} db {REDIS_DB} (flushed, shared, not pinned)"
    else:
        note = f"Redis {version}, private, on {where} db {REDIS_DB}, pinned to CPU {CLIENT_CPU}"
    if subscribers:
        note += f"; WARNING: {subscribers} other subscriber(s) on {LIVE_CHANNEL}"
    return note


@contextlib.contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"bench_delivery took more than {seconds} s")

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, expire)
    # SIGINT too: a shell starts background jobs with it ignored, and Python then keeps that.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)


def header_lines(cfg: Config, client: redis.Redis, publisher: Publisher, peer: str) -> list[str]:
    data, frame, socketio_frame = frame_bytes(publisher)
    runs = "--quick, 1 run each" if cfg.runs == 1 else f"median of {cfg.runs} runs"
    servers = "four servers" if cfg.node else "three servers"
    lines = [
        f"tidings delivery benchmark, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} ({runs})",
        machine(),
        peer,
        prepare_redis(client, cfg),
        f"placement: server on CPU {SERVER_CPU}; load generator (1 process), publisher"
        f"{', Node publisher' if cfg.node else ''}{'' if cfg.shared_redis else ' and Redis'}"
        f" on CPU {CLIENT_CPU}; the {servers} stay up together, each with its own clients and"
        " channels, and take turns in each round",
        f"traffic: {data}-byte data, {frame}-byte frames, clients without compression unless"
        f" said; tidings with TIDINGS_SEND_QUEUE_SIZE={SEND_QUEUE_SIZE}",
        f"tidings: `tidings serve` ({loop_note()}); {MOUNTED}: Tidings(settings).mount(app) in a"
        " minimal FastAPI app under plain uvicorn (bench/mounted_host.py), with a private Redis"
        " of its own" + ("" if cfg.mounted_redis_url else ": left out (--shared-redis)"),
    ]
    if cfg.node:
        lines.append(
            f"{SOCKETIO}: the same notification objects as the payload of a 'notification'"
            f" event ({socketio_frame}-byte frames), one Redis message per notification"
            f" (@socket.io/redis-emitter publishes one per to(room).emit); each batch's"
            f" {BATCH} emits leave in one write to Redis, encoded ahead of the throughput runs"
        )
    return lines


def loop_note() -> str:
    """Which event loop the servers' uvicorn picks: uvloop when installed (the server extra)."""
    try:
        return f"uvloop {importlib.metadata.version('uvloop')}"
    except importlib.metadata.PackageNotFoundError:
        return "asyncio's loop, uvloop not installed"


def run(cfg: Config, procs: Processes, tmp: Path) -> None:
    started = time.monotonic()
    peer = f"{SOCKETIO}: left out (--no-node)"
    if cfg.node:
        if socketio_peer.install():
            say(f"npm ci in {socketio_peer.PEER_DIR}: done")
        peer = f"{SOCKETIO}: {socketio_peer.versions()}"
    if not cfg.shared_redis:
        url, pid = start_redis(procs)
        mounted_url, mounted_pid = start_redis(procs)
        cfg = dataclasses.replace(
            cfg, redis_url=url, mounted_redis_url=mounted_url, helper_pids=(pid, mounted_pid)
        )
        if cfg.before is not None:
            before_url, before_pid = start_redis(procs)
            mounted_before_url, mounted_before_pid = start_redis(procs)
            cfg = dataclasses.replace(
                cfg,
                before_redis_url=before_url,
                before_mounted_redis_url=mounted_before_url,
                helper_pids=(*cfg.helper_pids, before_pid, mounted_before_pid),
            )
    client = redis.Redis.from_url(cfg.redis_url)
    publisher = Publisher(client)
    header = header_lines(cfg, client, publisher, peer)
    loadgen = Loadgen(procs, os.urandom(24).hex())
    emitter = start_emitter(procs, cfg, publisher) if cfg.node else None
    if emitter is not None:
        cfg = dataclasses.replace(cfg, helper_pids=(*cfg.helper_pids, emitter.process.pid))
    phases: dict[str, float] = {}
    try:
        phases["live"] = time.monotonic()
        subjects = live_phase(procs, loadgen, publisher, emitter, cfg, tmp)
        phases["deflate"] = time.monotonic()
        deflate = deflate_phase(procs, loadgen, publisher, cfg, tmp) if cfg.deflate else None
        phases["storm"] = time.monotonic()
        storm = storm_phase(procs, loadgen, publisher, cfg, tmp)
        phases["end"] = time.monotonic()
    finally:
        loadgen.close()
        if emitter is not None:
            emitter.close()
            procs.stop(emitter.process)
        client.close()
    times = (
        f"{time.monotonic() - started:.0f} s (setup {phases['live'] - started:.0f} s,"
        f" live fan-out {phases['deflate'] - phases['live']:.0f} s,"
        f" deflate {phases['storm'] - phases['deflate']:.0f} s,"
        f" storm {phases['end'] - phases['storm']:.0f} s)"
    )
    print_report(header, subjects, deflate, storm, times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run of each, shorter runs")
    parser.add_argument(
        "--runs", type=int, choices=range(1, 10), metavar="N", help="runs of each (default 3)"
    )
    parser.add_argument(
        "--profile", type=Path, help="directory for py-spy stacks of the tidings node"
    )
    parser.add_argument(
        "--shared-redis",
        action="store_true",
        help=f"use {SHARED_REDIS_URL} rather than a private redis-server",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="TREE",
        help="also run `tidings serve` from the source tree TREE (e.g. a `git archive` of an"
        " earlier commit), without uvloop, as 'tidings before' (needs the private Redis)",
    )
    parser.add_argument(
        "--no-node",
        action="store_true",
        help=f"leave out the {SOCKETIO} peer (for a machine without node and npm)",
    )
    cfg = config_from(parser.parse_args())
    check_machine()
    missing = socketio_peer.missing_tools() if cfg.node else []
    if missing:
        raise SystemExit(
            f"{' and '.join(missing)} not found on PATH: the {SOCKETIO} peer needs Node 20 and"
            " npm. Install them, or pass --no-node to run the benchmark without that peer."
        )
    if cfg.profile is not None:
        cfg.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as name:
        tmp = Path(name)
        procs = Processes(tmp)
        try:
            with watchdog(cfg.watchdog_seconds):
                run(cfg, procs, tmp)
        except (KeyboardInterrupt, TimeoutError, RuntimeError) as error:
            print(f"bench_delivery stopped: {type(error).__name__}: {error}", file=sys.stderr)
            for log in ("tidings", "tidings-mounted", "bare-server", "socketio-server", "loadgen"):
                tail = procs.log_tail(log, 10)
                if tail:
                    print(f"--- {log} log ---\n{tail}", file=sys.stderr)
            raise SystemExit(1) from None
        finally:
            procs.stop_all()


if __name__ == "__main__":
    main()
