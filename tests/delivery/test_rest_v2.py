"""The REST API of protocol v2 over real HTTP: marks, counts, filtered listings, the stream."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.delivery.helpers import (
    StreamClient,
    bearer,
    commit,
    emit_routed,
    for_user,
    records,
    route,
    unique,
)
from tests.delivery.node import Node, make_settings, running_node, token
from tests.delivery.test_rest import assert_error


@pytest.fixture
async def node(tmp_path: Path, redis_url: str) -> AsyncIterator[Node]:
    async with running_node(make_settings(tmp_path, redis_url)) as node:
        yield node


@pytest.fixture
async def http(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=node.http, timeout=5) as client:
        yield client


async def emitted(node: Node, user: str, events: list[str]) -> None:
    for event in events:
        await commit(node.settings, records(1, for_user(user), event=event))
    await route(node.settings)


async def mark(http: httpx.AsyncClient, user: str, **body: Any) -> httpx.Response:
    return await http.post("/notifications/state", json=body, headers=bearer(token(user)))


async def listed(http: httpx.AsyncClient, user: str, query: str) -> list[int]:
    response = await http.get(f"/notifications?v=2&{query}", headers=bearer(token(user)))
    assert response.status_code == 200, response.text
    return [item["seq"] for item in response.json()["items"]]


async def test_marks_answer_the_change_and_the_counts(node: Node, http: httpx.AsyncClient) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 3, for_user(user))

    response = await mark(http, user, op="read", seqs=[1, 2])

    assert response.status_code == 200
    body = response.json()
    assert body["change"]["type"] == "state"
    assert (body["change"]["pos"], body["change"]["op"], body["change"]["seqs"]) == (
        4,
        "read",
        [1, 2],
    )
    assert (body["head"], body["pos"], body["counts"]) == (3, 4, {"unread": 1, "unarchived": 3})
    again = (await mark(http, user, op="read", seqs=[2])).json()
    assert again["change"] is None and again["pos"] == 4
    counts = await http.get("/notifications/counts", headers=bearer(token(user)))
    assert counts.json() == {"head": 3, "pos": 4, "counts": {"unread": 1, "unarchived": 3}}


async def test_a_rest_mark_reaches_the_users_connected_devices(
    node: Node, http: httpx.AsyncClient
) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 2, for_user(user))
    async with StreamClient(node.ws(f"token={token(user)}&v=2&since=0")) as phone:
        await phone.wait_for(lambda f: bool(phone.of_type("caught_up")), "caught_up")

        await mark(http, user, op="archive", upto=2)

        await phone.wait_for(lambda f: bool(phone.of_type("state")), "the state frame")
        [state] = phone.of_type("state")
        assert (state["pos"], state["op"], state["upto"]) == (3, "archive", 2)
        assert state["counts"] == {"unread": 2, "unarchived": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"op": "delete", "seqs": [1]},
        {"op": "retract", "seqs": [1]},
        {"op": "read"},
        {"op": "read", "seqs": [1], "upto": 1},
        {"op": "read", "seqs": []},
        {"op": "read", "seqs": [0]},
        {"op": "read", "seqs": ["1"]},
        {"op": "read", "upto": -1},
        {"op": "read", "upto": 2**63},
    ],
)
async def test_bad_marks_are_400_invalid_mark(
    http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_error(await mark(http, unique("alice"), **body), 400, "invalid_mark")


async def test_a_mark_above_the_head_is_409_and_stores_nothing(
    node: Node, http: httpx.AsyncClient
) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 1, for_user(user))
    assert_error(await mark(http, user, op="read", seqs=[1, 2]), 409, "seq_above_head")
    counts = await http.get("/notifications/counts", headers=bearer(token(user)))
    assert counts.json()["counts"] == {"unread": 1, "unarchived": 1}


async def test_mark_bodies_are_json_objects_of_bounded_size(http: httpx.AsyncClient) -> None:
    auth = {**bearer(token(unique("alice"))), "content-type": "application/json"}
    response = await http.post("/notifications/state", content=b"[1]", headers=auth)
    assert_error(response, 400, "invalid_json")
    huge = json.dumps({"op": "read", "seqs": [1] * 20_000}).encode()
    response = await http.post("/notifications/state", content=huge, headers=auth)
    assert_error(response, 413, "body_too_large")
    assert_error(await http.post("/notifications/state", json={"op": "read"}), 401)


async def test_listings_filter_by_state_and_event_with_seq_cursors(
    node: Node, http: httpx.AsyncClient
) -> None:
    user = unique("alice")
    await emitted(node, user, ["a.thing", "b.thing", "a.thing", "c.thing", "a.thing"])
    await mark(http, user, op="read", seqs=[1, 2])
    await mark(http, user, op="archive", seqs=[3])

    assert await listed(http, user, "") == [1, 2, 3, 4, 5]
    assert await listed(http, user, "read=false") == [3, 4, 5]
    assert await listed(http, user, "archived=false&read=false") == [4, 5]
    assert await listed(http, user, "archived=true") == [3]
    assert await listed(http, user, "event=a.thing") == [1, 3, 5]
    assert await listed(http, user, "event=a.thing,c.thing&read=false") == [3, 4, 5]
    assert await listed(http, user, "event=a.thing&event=b.thing&since=1") == [2, 3, 5]
    page = await http.get("/notifications?v=2&read=false&limit=2", headers=bearer(token(user)))
    body = page.json()
    assert [i["seq"] for i in body["items"]] == [3, 4]
    assert (body["next_since"], body["has_more"], body["recovered"]) == (4, True, True)
    first = body["items"][0]
    assert {k: first[k] for k in ("pos", "read", "archived", "retracted", "replaces")} == {
        "pos": 3,
        "read": False,
        "archived": True,
        "retracted": False,
        "replaces": None,
    }
    assert body["counts"] == {"unread": 3, "unarchived": 4}


async def test_v1_listings_are_unchanged_and_refuse_v2_filters(
    node: Node, http: httpx.AsyncClient
) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 2, for_user(user))
    await mark(http, user, op="read", upto=2)
    auth = bearer(token(user))

    body = (await http.get("/notifications", headers=auth)).json()

    assert set(body) == {"items", "head", "next_since", "has_more", "recovered"}
    assert set(body["items"][0]) == {"seq", "id", "event", "data", "created_at", "origin_session"}
    assert (body["head"], body["next_since"]) == (2, 2)
    assert_error(await http.get("/notifications?read=false", headers=auth), 400, "v2_parameter")
    assert_error(await http.get("/notifications?v=3", headers=auth), 400, "invalid_version")
    for bad in ("read=yes", "archived=1", "retracted=maybe", "event=Bad!"):
        response = await http.get(f"/notifications?v=2&{bad}", headers=auth)
        assert response.status_code == 400, bad
    cursor = (await http.get("/notifications/cursor", headers=auth)).json()
    assert cursor == {"head": 2, "acked": 0, "unread": 2}  # v1's cursor: head minus ack


async def test_the_stream_over_rest_and_its_acks(node: Node, http: httpx.AsyncClient) -> None:
    user = unique("alice")
    await emit_routed(node.settings, 2, for_user(user))
    await mark(http, user, op="read", seqs=[2])
    auth = bearer(token(user))

    body = (await http.get("/stream?since=1&limit=1", headers=auth)).json()
    assert [(i["type"], i["pos"]) for i in body["items"]] == [("notification", 2)]
    assert (body["pos"], body["next_since"], body["has_more"], body["recovered"]) == (
        3,
        2,
        True,
        True,
    )
    rest = (await http.get("/stream?since=2", headers=auth)).json()
    assert [(i["type"], i["op"]) for i in rest["items"]] == [("state", "read")]

    ack = await http.post("/stream/ack", json={"pos": 3, "device": "tab"}, headers=auth)
    assert ack.json() == {"acked": 3, "device": "tab"}
    stale = await http.post("/stream/ack", json={"pos": 1, "device": "tab"}, headers=auth)
    assert_error(stale, 409, "ack_stale")
    above = await http.post("/stream/ack", json={"pos": 9, "device": "tab"}, headers=auth)
    assert_error(above, 409, "ack_above_head")
    cursor = (await http.get("/stream/cursor?device=tab", headers=auth)).json()
    assert (cursor["acked"], cursor["pos"]) == (3, 3)
    assert (await http.get("/notifications/cursor?device=tab", headers=auth)).json()["acked"] == 0
