"""G6: no token, id, device or parameter lets one user read or ack another user's stream."""

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from outbox.records import Users
from tests.delivery.helpers import (
    StreamClient,
    bearer,
    close_code,
    commit,
    connect,
    emit_routed,
    for_user,
    records,
    start_stream,
    unique,
    wait_for_head,
)
from tests.delivery.node import make_settings, running_node, running_worker, token


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Any:
    return make_settings(tmp_path, redis_url)


async def two_users(settings: Any) -> tuple[str, str]:
    """Alice holds seqs 1-3, Bob 1-8 (Bob's data names him); Bob acked 6 on "bobs-phone"."""
    alice, bob = unique("alice"), unique("bob")
    await emit_routed(settings, 3, for_user(alice), data={"owner": alice})
    await emit_routed(settings, 8, for_user(bob), data={"owner": bob})
    return alice, bob


async def test_rest_never_shows_or_changes_another_users_data(settings: Any) -> None:
    alice, bob = await two_users(settings)
    as_alice, as_bob = bearer(token(alice)), bearer(token(bob))
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        acked = await http.post(
            "/notifications/ack", headers=as_bob, json={"seq": 6, "device": "p"}
        )
        assert acked.status_code == 200
        forged_queries = [
            "",
            f"?user_id={bob}",
            f"?user={bob}&sub={bob}",
            f"?since=0&limit=500&user_id={bob}",
            f"?since=3&user_id={bob}",
        ]
        for query in forged_queries:
            body = (await http.get(f"/notifications{query}", headers=as_alice)).json()
            assert all(item["data"]["owner"] == alice for item in body["items"]), query
            assert body["head"] == 3, query
        listed = (await http.get("/notifications?since=0", headers=as_alice)).json()
        assert [item["seq"] for item in listed["items"]] == [1, 2, 3]
        assert f"{bob}" not in json.dumps(listed)

        cursor = await http.get(f"/notifications/cursor?device=p&user_id={bob}", headers=as_alice)
        assert cursor.json() == {"head": 3, "acked": 0, "unread": 3}

        # Acks with Bob's seqs and device land on Alice's own stream, or nowhere.
        above = await http.post(
            f"/notifications/ack?user_id={bob}",
            headers=as_alice,
            json={"seq": 8, "device": "p", "user_id": bob},
        )
        assert (above.status_code, above.json()["code"]) == (409, "ack_above_head")
        own = await http.post(
            "/notifications/ack", headers=as_alice, json={"seq": 2, "device": "p"}
        )
        assert own.status_code == 200
        assert (await http.get("/notifications/cursor?device=p", headers=as_bob)).json() == {
            "head": 8,
            "acked": 6,
            "unread": 2,
        }
        assert (await http.get("/notifications/cursor?device=p", headers=as_alice)).json() == {
            "head": 3,
            "acked": 2,
            "unread": 1,
        }


async def test_websocket_only_ever_carries_the_callers_entries(settings: Any) -> None:
    alice, bob = await two_users(settings)
    async with running_node(settings) as node, running_worker(settings):
        async with (
            StreamClient(node.ws(f"token={token(alice)}&since=0&user_id={bob}")) as as_alice,
            StreamClient(node.ws(f"token={token(bob)}&since=0")) as as_bob,
        ):
            await as_alice.wait_for_seq(3)
            await as_bob.wait_for_seq(8)
            # Interleaved emits for both users, and some for both at once.
            for number in range(10):
                await commit(settings, records(1, for_user(alice), data={"owner": alice}))
                await commit(settings, records(1, for_user(bob), data={"owner": bob}))
                if number % 3 == 0:
                    await commit(settings, records(1, Users((alice, bob)), data={"owner": "*"}))
            await wait_for_head(settings, alice, 17)
            await wait_for_head(settings, bob, 22)
            await as_alice.wait_for_seq(17)
            await as_bob.wait_for_seq(22)
            await as_alice.settle()
            await as_bob.settle()
            for client, owner, head in ((as_alice, alice, 17), (as_bob, bob, 22)):
                assert client.frames[0]["user_id"] == owner
                notes = client.of_type("notification")
                assert [note["seq"] for note in notes] == list(range(1, head + 1))
                assert {note["data"]["owner"] for note in notes} == {owner, "*"}

            # Acks over the socket are Alice's: Bob's head is above hers.
            await as_alice.ws.send(json.dumps({"type": "ack", "seq": 22}))
            await as_alice.wait_for(
                lambda frames: any(f.get("code") == "ack_above_head" for f in frames),
                "ack_above_head",
            )


async def test_acks_from_one_user_never_move_anothers_cursor(settings: Any) -> None:
    alice, bob = await two_users(settings)
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        async with connect(node.ws(f"token={token(alice)}&device=p&since=0")) as ws:
            await start_stream(ws)
            await ws.send(json.dumps({"type": "ack", "seq": 3}))
            await ws.send("probe")
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == "invalid_json"
        bob_cursor = await http.get("/notifications/cursor?device=p", headers=bearer(token(bob)))
        assert bob_cursor.json() == {"head": 8, "acked": 0, "unread": 8}


async def test_ticket_belongs_to_the_token_that_asked_for_it(settings: Any) -> None:
    alice, bob = await two_users(settings)
    async with running_node(settings) as node, httpx.AsyncClient(base_url=node.http) as http:
        ticket = (await http.post("/ws/ticket", headers=bearer(token(alice)))).json()["ticket"]
        async with connect(node.ws(f"ticket={ticket}&since=0&user_id={bob}")) as ws:
            welcome, frames = await start_stream(ws)
    assert welcome["user_id"] == alice
    assert [f["data"]["owner"] for f in frames if f["type"] == "notification"] == [alice] * 3


async def test_refresh_with_another_users_token_closes_without_leaking(settings: Any) -> None:
    alice, bob = await two_users(settings)
    async with running_node(settings) as node:
        async with connect(node.ws(f"token={token(alice)}&since=3")) as ws:
            await start_stream(ws)
            await ws.send(json.dumps({"type": "refresh", "token": token(bob)}))
            assert await close_code(ws) == 4401
        async with connect(node.ws(f"token={token(alice)}&since=3")) as ws:
            await start_stream(ws)
            await ws.send(json.dumps({"type": "refresh", "token": token(alice)}))
            await ws.send(json.dumps({"type": "ack", "seq": 8}))  # Bob's head, not Alice's
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["code"] == "ack_above_head"
