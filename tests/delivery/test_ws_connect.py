"""How a client connects: token transports, tickets, start positions and the frames it gets."""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from outbox.records import Everyone, Users
from tests.delivery.helpers import (
    bearer,
    close_code,
    commit,
    connect,
    emit_routed,
    for_user,
    records,
    recv,
    route,
    start_stream,
    unique,
)
from tests.delivery.node import make_settings, running_node, running_worker, token

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Any:
    return make_settings(tmp_path, redis_url)


async def test_token_in_the_url(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}")) as ws:
            welcome = await recv(ws)
    assert welcome == {
        "type": "welcome",
        "user_id": user,
        "head": 0,
        "since": 0,
        "recovered": True,
        "device": "default",
        "unread": 0,
    }


async def test_token_in_an_authorization_header(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with connect(node.ws("since=0"), additional_headers=bearer(token(user))) as ws:
            welcome, frames = await start_stream(ws)
    assert welcome["user_id"] == user
    assert frames == [{"type": "caught_up", "seq": 0}]


async def test_ticket_then_ws_and_never_twice(settings: Any) -> None:
    user = unique("alice")
    async with running_node(settings) as node:
        async with httpx.AsyncClient(base_url=node.http) as http:
            response = await http.post("/ws/ticket", headers=bearer(token(user)))
            assert response.status_code == 200
            body = response.json()
            assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 30
            refused = await http.post("/ws/ticket")
            assert (refused.status_code, refused.json()["code"]) == (401, "token_missing")
        async with connect(node.ws(f"ticket={body['ticket']}&device=web")) as ws:
            welcome = await recv(ws)
            assert (welcome["user_id"], welcome["device"]) == (user, "web")
        async with connect(node.ws(f"ticket={body['ticket']}")) as ws:
            assert await close_code(ws) == 4401


async def test_replay_then_live_frames_have_the_contract_shape(settings: Any) -> None:
    user, other = unique("alice"), unique("bob")
    await commit(
        settings,
        records(2, Users((user, other)), event="family.joined", data={"who": "carol"}),
    )
    await route(settings)
    async with running_node(settings) as node, running_worker(settings):
        async with (
            connect(node.ws(f"token={token(user)}&since=0")) as ws,
            connect(node.ws(f"token={token(other)}&since=1")) as ws_other,
        ):
            welcome, frames = await start_stream(ws)
            assert (welcome["head"], welcome["since"], welcome["recovered"]) == (2, 0, True)
            first, second, caught_up = frames
            assert caught_up == {"type": "caught_up", "seq": 2}
            assert set(first) == {
                "type",
                "seq",
                "id",
                "event",
                "data",
                "created_at",
                "origin_session",
            }
            assert (first["seq"], first["event"], first["data"]) == (
                1,
                "family.joined",
                {"who": "carol", "i": 0},
            )
            assert first["origin_session"] is None
            assert ISO_UTC.fullmatch(first["created_at"]), first["created_at"]
            # One emit has one id, the same for every recipient.
            _, other_frames = await start_stream(ws_other)
            assert other_frames[0]["seq"] == 2 and other_frames[0]["id"] == second["id"]
            assert first["id"] != second["id"]

            await emit_routed(settings, 1, for_user(user))
            live = await recv(ws)
            assert (live["type"], live["seq"], live["data"]) == ("notification", 3, {"i": 0})


async def test_since_omitted_resumes_from_the_devices_ack(settings: Any) -> None:
    user = unique("alice")
    await emit_routed(settings, 5, for_user(user))
    async with running_node(settings) as node:
        async with httpx.AsyncClient(base_url=node.http) as http:
            response = await http.post(
                "/notifications/ack", headers=bearer(token(user)), json={"seq": 3, "device": "tab"}
            )
            assert response.status_code == 200
        async with connect(node.ws(f"token={token(user)}&device=tab")) as ws:
            welcome, frames = await start_stream(ws)
        assert (welcome["since"], welcome["head"], welcome["recovered"]) == (3, 5, True)
        assert [(f["type"], f["seq"]) for f in frames] == [
            ("notification", 4),
            ("notification", 5),
            ("caught_up", 5),
        ]


async def test_since_omitted_without_an_ack_starts_live_at_the_head(settings: Any) -> None:
    user = unique("alice")
    await emit_routed(settings, 4, for_user(user))
    async with running_node(settings) as node, running_worker(settings):
        async with connect(node.ws(f"token={token(user)}&device=fresh")) as ws:
            welcome, frames = await start_stream(ws)
            assert (welcome["since"], welcome["head"], welcome["recovered"]) == (4, 4, True)
            assert frames == [{"type": "caught_up", "seq": 4}]  # no replay
            await emit_routed(settings, 1, for_user(user))
            assert (await recv(ws))["seq"] == 5


async def test_since_above_the_head_is_not_recovered_and_starts_at_the_head(
    settings: Any,
) -> None:
    user = unique("alice")
    await emit_routed(settings, 2, for_user(user))
    async with running_node(settings) as node, running_worker(settings):
        async with connect(node.ws(f"token={token(user)}&since=9")) as ws:
            welcome, frames = await start_stream(ws)
            assert (welcome["since"], welcome["head"], welcome["recovered"]) == (2, 2, False)
            assert frames == [{"type": "caught_up", "seq": 2}]
            await emit_routed(settings, 1, for_user(user))
            assert (await recv(ws))["seq"] == 3


async def test_since_equal_to_the_head_is_recovered_with_an_empty_replay(settings: Any) -> None:
    user = unique("alice")
    await emit_routed(settings, 2, for_user(user))
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(user)}&since=2")) as ws:
            welcome, frames = await start_stream(ws)
    assert (welcome["since"], welcome["recovered"]) == (2, True)
    assert frames == [{"type": "caught_up", "seq": 2}]


async def test_broadcast_reaches_every_connected_user_without_a_seq(settings: Any) -> None:
    user, other = unique("alice"), unique("bob")
    async with running_node(settings) as node, running_worker(settings):
        async with (
            connect(node.ws(f"token={token(user)}")) as ws,
            connect(node.ws(f"token={token(other)}")) as ws_other,
        ):
            await start_stream(ws)
            await start_stream(ws_other)
            await emit_routed(settings, 1, Everyone(), event="maintenance", data={"at": "now"})
            for client in (ws, ws_other):
                frame = await recv(client)
                assert set(frame) == {"type", "id", "event", "data", "created_at"}
                assert (frame["type"], frame["event"]) == ("broadcast", "maintenance")
            # Broadcasts are not stored per user.
            await emit_routed(settings, 1, for_user(user))
            assert (await recv(ws))["seq"] == 1
