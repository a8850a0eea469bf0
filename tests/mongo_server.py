"""A MongoDB URL for tests: a configured server, a Docker replica set, or the mongoeco double.

Order (see the environment guide): ``TIDINGS_TEST_MONGODB_URL`` or ``MONGODB_URL``; then
``mongo:7 --replSet rs0`` through testcontainers when a Docker daemon answers; then mongoeco's
wire server in a background thread. mongoeco is a test double: tests that use it run one
operation at a time and draw no conclusion about concurrency.
"""

import asyncio
import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from pymongo import monitoring


@dataclass(frozen=True)
class MongoEndpoint:
    url: str
    kind: str  # "env", "docker" or "mongoeco"

    @property
    def is_double(self) -> bool:
        return self.kind == "mongoeco"


@contextlib.contextmanager
def mongo_endpoint() -> Iterator[MongoEndpoint]:
    url = os.environ.get("TIDINGS_TEST_MONGODB_URL") or os.environ.get("MONGODB_URL")
    if url:
        yield MongoEndpoint(url, "env")
        return
    with contextlib.ExitStack() as stack:
        docker_url = stack.enter_context(_docker_replica_set())
        if docker_url is not None:
            yield MongoEndpoint(docker_url, "docker")
            return
        yield MongoEndpoint(stack.enter_context(_mongoeco_server()), "mongoeco")


@contextlib.contextmanager
def _docker_replica_set() -> Iterator[str | None]:
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        yield None  # no daemon to ask; docker-py would leak a socket finding that out
        return
    try:
        from docker.errors import DockerException
        from testcontainers.core.container import DockerContainer
    except ImportError:
        yield None
        return
    try:
        container = DockerContainer("mongo:7").with_command("--replSet rs0 --bind_ip_all")
        container.with_exposed_ports(27017)
        container.start()
    except DockerException:
        yield None
        return
    try:
        from pymongo import MongoClient

        host = container.get_container_host_ip()
        port = container.get_exposed_port(27017)
        url = f"mongodb://{host}:{port}/?directConnection=true"
        with MongoClient(url, serverSelectionTimeoutMS=30_000) as client:
            client.admin.command(
                "replSetInitiate",
                {"_id": "rs0", "members": [{"_id": 0, "host": "localhost:27017"}]},
            )
        yield url
    finally:
        container.stop()


@contextlib.contextmanager
def _mongoeco_server() -> Iterator[str]:
    from mongoeco.engines.memory import MemoryEngine
    from mongoeco.wire import AsyncMongoEcoProxyServer

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    address: list[str] = []

    async def serve() -> None:
        async with AsyncMongoEcoProxyServer(engine=MemoryEngine()) as server:
            address.append(server.address.uri)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("mongoeco wire server did not start")
    try:
        yield address[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


class CommandCounter(monitoring.CommandListener):
    """Counts the commands, by name, of the clients it listens to (``event_listeners=``)."""

    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
