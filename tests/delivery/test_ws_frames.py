"""Bad client frames get error frames, acks follow the exact rules, and the node keeps serving."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.delivery.helpers import (
    bearer,
    close_code,
    connect,
    emit_routed,
    for_user,
    recv,
    start_stream,
    unique,
)
from tests.delivery.node import make_settings, running_node, running_worker, token

BAD_FRAMES = [
    ("not json", "invalid_json"),
    ("{", "invalid_json"),
    ("", "invalid_json"),
    ("[1, 2]", "invalid_frame"),
    ('"ack"', "invalid_frame"),
    ('{"seq": 1}', "invalid_frame"),
    ('{"type": 1}', "invalid_frame"),
    ('{"type": "subscribe"}', "unknown_type"),
    ('{"type": "ACK", "seq": 1}', "unknown_type"),
    ('{"type": "ack"}', "invalid_ack"),
    ('{"type": "ack", "seq": "1"}', "invalid_ack"),
    ('{"type": "ack", "seq": -1}', "invalid_ack"),
    ('{"type": "ack", "seq": 1.5}', "invalid_ack"),
    ('{"type": "ack", "seq": true}', "invalid_ack"),
    ('{"type": "ack", "seq": 9223372036854775808}', "invalid_ack"),
    ('{"type": "refresh"}', "invalid_refresh"),
    ('{"type": "refresh", "token": ""}', "invalid_refresh"),
]


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Any:
    return make_settings(tmp_path, redis_url)


def ack(seq: int) -> str:
    return json.dumps({"type": "ack", "seq": seq})


async def cursor(http: httpx.AsyncClient, user: str, device: str = "default") -> dict[str, Any]:
    response = await http.get(f"/notifications/cursor?device={device}", headers=bearer(token(user)))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_each_bad_frame_gets_an_error_frame_and_the_connection_stays(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node, running_worker(settings):
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            for text, code in BAD_FRAMES:
                await ws.send(text)
                frame = await recv(ws)
                assert set(frame) == {"type", "code", "message"}, text
                assert (frame["type"], frame["code"]) == ("error", code), text
                assert isinstance(frame["message"], str) and frame["message"], text
            # Still live: a notification emitted now arrives.
            await emit_routed(settings, 1, for_user(user))
            assert (await recv(ws))["seq"] == 1


async def test_error_frames_never_echo_a_refresh_token(settings: Any) -> None:
    user = unique("alice")
    secret_looking = "x" * 30 + "SECRETVALUE"
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            await ws.send(json.dumps({"type": "refresh", "token": 5, "t": secret_looking}))
            frame = await recv(ws)
            assert frame["code"] == "invalid_refresh"
            assert "SECRETVALUE" not in json.dumps(frame)


async def test_ack_rules_over_websocket(settings: Any) -> None:
    user, bystander = unique("alice"), unique("bob")
    async with running_node(settings) as node, running_worker(settings):
        async with (
            httpx.AsyncClient(base_url=node.http) as http,
            connect(node.ws(f"token={token(bystander)}")) as other,
        ):
            await start_stream(other)
            await emit_routed(settings, 3, for_user(user))
            async with connect(node.ws(f"token={token(user)}&since=0&device=phone")) as ws:
                _, frames = await start_stream(ws)
                assert [f["seq"] for f in frames[:-1]] == [1, 2, 3]

                await ws.send(ack(4))  # above the head
                frame = await recv(ws)
                assert (frame["type"], frame["code"]) == ("error", "ack_above_head")
                assert await cursor(http, user, "phone") == {"head": 3, "acked": 0, "unread": 3}

                await ws.send(ack(2))  # stored; no answer
                await ws.send(ack(2))  # equal to the stored ack: silent
                await ws.send("probe")  # the next answer must be this probe's
                assert (await recv(ws))["code"] == "invalid_json"
                assert await cursor(http, user, "phone") == {"head": 3, "acked": 2, "unread": 1}

                await ws.send(ack(1))  # below the stored ack
                frame = await recv(ws)
                assert (frame["type"], frame["code"]) == ("error", "ack_stale")
                assert await cursor(http, user, "phone") == {"head": 3, "acked": 2, "unread": 1}
                # Acks are per device.
                assert await cursor(http, user) == {"head": 3, "acked": 0, "unread": 3}

                await ws.send(ack(3))
                await ws.send("probe")
                assert (await recv(ws))["code"] == "invalid_json"
                assert await cursor(http, user, "phone") == {"head": 3, "acked": 3, "unread": 0}

            # The node kept serving another client throughout.
            await emit_routed(settings, 1, for_user(bystander))
            frame = await recv(other)
            assert (frame["type"], frame["seq"]) == ("notification", 1)


async def test_ack_zero_with_nothing_stored_is_silent(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            await start_stream(ws)
            await ws.send(ack(0))
            await ws.send("probe")
            assert (await recv(ws))["code"] == "invalid_json"


async def test_abuse_closes_one_connection_only(settings: Any) -> None:
    user, bystander = unique("alice"), unique("bob")
    async with running_node(settings) as node, running_worker(settings):
        async with connect(node.ws(f"token={token(bystander)}")) as other:
            await start_stream(other)
            async with connect(node.ws(f"token={token(user)}")) as ws:
                await start_stream(ws)
                for _ in range(51):
                    await ws.send("junk")
                assert await close_code(ws) == 4400
            async with connect(node.ws(f"token={token(user)}")) as ws:
                await start_stream(ws)  # the same user may come back
            await emit_routed(settings, 1, for_user(bystander))
            assert (await recv(other))["seq"] == 1
