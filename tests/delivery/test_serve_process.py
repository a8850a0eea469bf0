"""``tidings serve`` as its own process: the native runtime on the event loop it runs with.

The other delivery tests serve nodes in the test's own (asyncio) loop; the command picks
uvloop when the server extra is installed, whose transports differ, so this runs the real
command: replay, live frames, an ack, REST beside ``/ws``, and 1001 on SIGTERM.
"""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.delivery.helpers import (
    StreamClient,
    bearer,
    close_code,
    connect,
    emit_routed,
    for_user,
    start_stream,
    unique,
    until,
)
from tests.delivery.node import SECRET, Node, make_settings, running_worker, token
from tests.services import free_port

TIDINGS = str(Path(sys.executable).with_name("tidings"))


@pytest.fixture
def served(tmp_path: Path, redis_url: str) -> Iterator[tuple[Node, subprocess.Popen[bytes]]]:
    port = free_port()
    settings = make_settings(tmp_path, redis_url, port=port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env.update(
        TIDINGS_DATA_DIR=str(tmp_path),
        TIDINGS_REDIS_URL=redis_url,
        TIDINGS_JWT_SECRET=SECRET,
        TIDINGS_PORT=str(port),
    )
    subprocess.run([TIDINGS, "migrate"], env=env, check=True, capture_output=True)
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen([TIDINGS, "serve"], env=env, stdout=log, stderr=log)
    try:
        yield Node(settings, port), process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def test_the_serve_command_streams_and_closes_1001_on_sigterm(
    served: tuple[Node, subprocess.Popen[bytes]],
) -> None:
    node, process = served
    settings: Any = node.settings
    user = unique("alice")
    async with httpx.AsyncClient(base_url=node.http) as http:

        async def ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await until(ready, 20, "tidings serve to be ready")
        await emit_routed(settings, 3, for_user(user))
        async with running_worker(settings), StreamClient(node.ws(f"token={token(user)}")) as live:
            await live.wait_for(lambda _: bool(live.of_type("caught_up")), "caught_up")
            await emit_routed(settings, 2, for_user(user))
            await live.wait_for_seq(5)
            assert live.seqs() == [4, 5]
            await live.ws.send(json.dumps({"type": "ack", "seq": 5}))
            await live.settle()
        cursor = await http.get("/notifications/cursor", headers=bearer(token(user)))
        assert cursor.json() == {"head": 5, "acked": 5, "unread": 0}
        ws = await connect(node.ws(f"token={token(user)}&since=0"))
        _, frames = await start_stream(ws)
        assert [f["seq"] for f in frames if f["type"] == "notification"] == [1, 2, 3, 4, 5]
        process.send_signal(signal.SIGTERM)
        try:
            assert await close_code(ws) == 1001
        finally:
            await ws.close()
    assert process.wait(10) == 0
