"""A delivery node paused (SIGSTOP) with clients connected, behind a load balancer.

Two ``tidings serve`` processes share the store and Redis behind a TCP balancer; a worker
routes what an emitter commits for five users, and five Python clients (one per user) stream
through the balancer. The node holding every client is stopped and taken out of the
rotation, as a health check would: the clients' keepalive pings go unanswered, so they close,
reconnect through the balancer to the other node, and resume with ``since``. The paused node
is then continued and put back, and the same is done to the other one. At the end every
client has handed each of its user's notifications to the application once, in seq order
1..n with no gap, matching the store (G2, G3, G5), and the store's streams pass the checks of
the worker's crash test (G4).
"""

import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
import websockets
from tidings_client import BackoffPolicy, ClientOptions, Notification, Runtime, TidingsClient
from tidings_client.transport import Connect, Transport, WebsocketsTransport

from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from tests.delivery.helpers import until
from tests.delivery.node import SECRET, token
from tests.services import Balancer, PrivateRedis, announced_port, private_redis
from tests.worker import (
    REPO,
    USERS,
    check_streams,
    clean_env,
    nothing_pending,
    read_committed,
    spawn,
    stop_process,
)

pytestmark = pytest.mark.slow

KEEPALIVE_SECONDS = 0.5
# Each client gets this many notifications on the other node before the paused one resumes.
NOTIFICATIONS_WHILE_PAUSED = 5


def keepalive_connector(interval: float) -> Connect:
    """``websockets`` with a short keepalive: a ping every ``interval`` seconds, and the
    connection closed when its pong is ``interval`` seconds late."""

    async def connect(url: str, headers: Mapping[str, str]) -> Transport:
        connection = await websockets.connect(
            url,
            additional_headers=dict(headers),
            open_timeout=5,
            close_timeout=1,
            ping_interval=interval,
            ping_timeout=interval,
            proxy=None,
        )
        return WebsocketsTransport(connection)

    return connect


class ServeProcess:
    """``tidings serve`` in a subprocess, on the port it picked itself (see :meth:`started`)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = 0
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidings.cli", "serve"],
                cwd=REPO,
                env=clean_env({**env, "TIDINGS_PORT": "0"}),
                stderr=out,
            )

    async def started(self) -> bool:
        """Whether it listens (and is ready); learns its port on the way."""
        assert self.process.poll() is None, self.log.read_text()
        self.port = self.port or announced_port(self.log.read_text()) or 0
        return bool(self.port) and await self.ready()

    async def get(self, path: str) -> httpx.Response | None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=2) as http:
            try:
                return await http.get(path)
            except httpx.TransportError:
                return None

    async def ready(self) -> bool:
        response = await self.get("/readyz")
        return response is not None and response.status_code == 200

    async def connections(self) -> int:
        """Its ``ws_connections`` gauge (-1 when it does not answer)."""
        response = await self.get("/metrics")
        if response is None:
            return -1
        for line in response.text.splitlines():
            if line.startswith("ws_connections "):
                return int(float(line.split()[1]))
        return -1

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@dataclass
class Stream:
    """One user's client, its HTTP client, and what it handed to the application."""

    client: TidingsClient
    http: httpx.AsyncClient
    received: list[Notification] = field(default_factory=list)

    async def stop(self) -> None:
        await self.client.stop()
        await self.http.aclose()


@dataclass
class Fleet:
    env: dict[str, str]
    path: Path
    work: Path
    nodes: list[ServeProcess]
    balancer: Balancer
    streams: dict[str, Stream]


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture
async def fleet(tmp_path: Path, redis_server: PrivateRedis) -> AsyncIterator[Fleet]:
    path = tmp_path / "data" / "tidings.sqlite3"
    apply_sqlite(path)
    env = {
        "TIDINGS_DATA_DIR": str(path.parent),
        "TIDINGS_REDIS_URL": redis_server.url,
        "TIDINGS_JWT_SECRET": SECRET,
        "TIDINGS_RESOLVERS": "tests.worker:resolvers",
        "TIDINGS_SWEEP_INTERVAL_SECONDS": "0.05",
    }
    nodes = [ServeProcess(env, tmp_path / f"node-{n}.log") for n in range(2)]
    worker = spawn("worker_main", env)
    balancer = Balancer([])
    streams: dict[str, Stream] = {}
    try:
        for node in nodes:
            await until(node.started, 30, "a node to be ready")
        balancer.rotation[:] = [nodes[0].port]  # every client starts on the first node
        await balancer.start()
        for user in USERS:
            streams[user] = start_stream(user, balancer.port)
        yield Fleet(env, path, tmp_path, nodes, balancer, streams)
    finally:
        for stream in streams.values():
            await stream.stop()
        await balancer.stop()
        for node in nodes:
            node.resume()  # a failed test may leave one stopped
        codes = [stop_process(p) for p in (*(node.process for node in nodes), worker)]
    assert codes == [0, 0, 0]


def start_stream(user: str, port: int) -> Stream:
    access = token(user)
    # A new connection per request, so that the balancer routes each one, as an HTTP-aware
    # balancer would: a pooled connection would stay with the paused node.
    http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), timeout=5)
    stream = Stream(
        TidingsClient(
            f"http://127.0.0.1:{port}",
            get_token=lambda _reason: access,
            on_notification=lambda n: stream.received.append(n),
            options=ClientOptions(backoff=BackoffPolicy(initial_delay=0.2, max_delay=1.0)),
            runtime=Runtime(connect=keepalive_connector(KEEPALIVE_SECONDS), http=http),
        ),
        http,
    )
    stream.client.start()
    return stream


async def routed_entries(path: Path) -> dict[str, list[str]]:
    """Each user's notification ids in seq order, from the store."""
    store = await SqliteStore.open(path)
    try:
        return {
            user: [e.notification.id for e in await store.read_inbox_after(user, 0, 100_000)]
            for user in USERS
        }
    finally:
        await store.close()


async def test_clients_of_a_paused_node_resume_on_another_without_a_gap(fleet: Fleet) -> None:
    files = {
        "TEST_STOP_FILE": str(fleet.work / "stop"),
        "TEST_COMMITTED_FILE": str(fleet.work / "committed.txt"),
    }
    emitter = spawn("emitter_main", {**fleet.env, **files, "TEST_EMIT_PAUSE": "0.01"})
    try:
        first, second = fleet.nodes
        for held, other in ((first, second), (second, first)):
            await until(partial(_holds, held, len(USERS)), 20, "every client on one node")
            await pause_and_move(fleet, held, other)
            await until(held.ready, 20, "the resumed node to be ready")
            # Its clients left while it was stopped: it lets their connections go.
            await until(partial(_holds, held, 0), 20, "the resumed node to drop its connections")
            fleet.balancer.rotation[:] = [held.port, other.port]
        assert emitter.poll() is None, "the emitter died"
    finally:
        Path(files["TEST_STOP_FILE"]).touch()
        assert emitter.wait(30) == 0

    committed = read_committed(Path(files["TEST_COMMITTED_FILE"]))
    store = await SqliteStore.open(fleet.path)
    try:
        await until(lambda: nothing_pending(store), 30, "everything to be routed")
        report = await check_streams(store, committed)
    finally:
        await store.close()
    print(report.line(len(committed), 0))
    assert report.lost == report.duplicated == report.unexpected == 0
    assert report.gaps == [] and report.order_violations == []
    expected = await routed_entries(fleet.path)
    for user, stream in fleet.streams.items():
        await until(partial(_received, stream, len(expected[user])), 20, f"{user} caught up")
    got = {u: [(n.seq, n.id) for n in s.received] for u, s in fleet.streams.items()}
    assert got == {u: list(enumerate(ids, start=1)) for u, ids in expected.items()}
    connections = {u: s.client.stats.connections for u, s in fleet.streams.items()}
    assert all(count == 3 for count in connections.values()), connections  # two moves each


async def pause_and_move(fleet: Fleet, held: ServeProcess, other: ServeProcess) -> None:
    """Stop ``held`` and take it out of the rotation; return once every client reconnected
    to ``other`` and received live notifications there; then continue ``held``."""
    before = {u: s.client.stats.connections for u, s in fleet.streams.items()}
    fleet.balancer.rotation[:] = [other.port]  # what a health check would do
    held.pause()
    try:
        positions = {u: len(s.received) for u, s in fleet.streams.items()}
        await until(lambda: _holds(other, len(USERS)), 20, "the clients to move over")

        async def every_client_reconnected() -> bool:
            # A client counts a connection once its welcome arrives, after the node counts it.
            return all(s.client.stats.connections > before[u] for u, s in fleet.streams.items())

        await until(every_client_reconnected, 20, "every client to reconnect")

        async def live_there() -> bool:
            gained = [len(s.received) - positions[u] for u, s in fleet.streams.items()]
            return min(gained) >= NOTIFICATIONS_WHILE_PAUSED

        await until(live_there, 20, "notifications on the other node")
    finally:
        held.resume()


async def _holds(node: ServeProcess, count: int) -> bool:
    return await node.connections() == count


async def _received(stream: Stream, count: int) -> bool:
    return len(stream.received) >= count
