"""Inbox state over WebSockets (protocol v2), end to end: a node, a worker, the host's writes.

- Two devices of one user: one marks three items read and archives one while the other is
  offline; the other resumes with its ``since`` and shows the same state and counts, with no
  REST call.
- A retraction in a host transaction that rolls back changes nothing; one that commits
  reaches every device of every recipient and adjusts their counts.
- A v1 client connected through all of it receives exactly the v1 frames: the welcome, the
  notifications as v1 encodes them, ``caught_up``, and nothing else.
"""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from api_hooks import Emitter, Users
from delivery.frames import encode_notification
from foundation.settings import Settings
from outbox.stores.sqlite import connect as host_connection
from outbox.stores.sqlite.store import SqliteStore
from outbox.stream import Counts, ItemFilter, ItemState
from tests.delivery.helpers import (
    StreamClient,
    close_code,
    connect,
    emit_routed,
    for_user,
    pending,
    unique,
    until,
)
from tests.delivery.node import Node, make_settings, running_node, running_worker, token
from tests.stream_view import DeviceView


@pytest.fixture
async def served(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Node, Settings]]:
    settings = make_settings(tmp_path, redis_url)
    async with running_node(settings) as node, running_worker(settings):
        yield node, settings


def v2_url(node: Node, user: str, device: str, since: int | None = None) -> str:
    query = f"token={token(user)}&v=2&device={device}"
    return node.ws(query if since is None else f"{query}&since={since}")


def stream_frames(client: StreamClient) -> list[dict[str, Any]]:
    return [f for f in client.frames if f["type"] in ("notification", "state")]


def view_of(client: StreamClient, view: DeviceView | None = None) -> DeviceView:
    """What ``client`` shows: its welcome's counts, then its frames applied in order."""
    welcome = client.of_type("welcome")[-1]
    if view is None:
        view = DeviceView(position=welcome["since"])
    if welcome["head"] <= view.position:
        view.counts = Counts(**welcome["counts"])
    for frame in stream_frames(client):
        if frame["pos"] > view.position:
            view.apply_frame(frame)
    return view


async def caught_up(client: StreamClient) -> None:
    await client.wait_for(lambda f: any(x["type"] == "caught_up" for x in f), "caught_up")


async def at_position(client: StreamClient, pos: int) -> None:
    await client.wait_for(
        lambda _: any(f["pos"] >= pos for f in stream_frames(client)), f"position {pos}"
    )


async def stored(settings: Settings, user: str) -> tuple[dict[int, ItemState], Counts, int]:
    """The store's view: every retained notification's state, the counts, the position."""
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        items = await store.list_items(user, 0, 1000, ItemFilter(retracted=None))
        head = await store.stream_head(user)
    finally:
        await store.close()
    return {i.entry.seq: i.state for i in items}, head.counts, head.pos


async def v1_frames_expected(settings: Settings, user: str, since: int) -> list[dict[str, Any]]:
    """The frames a v1 client that connected at ``since`` (= the head then) receives."""
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        entries = await store.read_inbox_after(user, since, 1000)
        unread = await store.count_after(user, 0)  # the device has acknowledged nothing
    finally:
        await store.close()
    welcome = {
        "type": "welcome",
        "user_id": user,
        "head": since,
        "since": since,
        "recovered": True,
        "device": "default",
        "unread": unread - len(entries),  # counted when it connected, before the newer ones
    }
    notes = [orjson.loads(encode_notification(entry)) for entry in entries]
    return [welcome, {"type": "caught_up", "seq": since}, *notes]


async def host_transaction(settings: Settings, work: Any, *, commit: bool) -> None:
    """Run ``work(connection)`` in a host transaction on the store's file; commit or roll
    back."""
    conn = host_connection(settings.sqlite_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        await work(conn)
        conn.execute("COMMIT" if commit else "ROLLBACK")
    finally:
        conn.close()


async def routed(settings: Settings) -> None:
    async def nothing_pending() -> bool:
        return await pending(settings) == 0

    await until(nothing_pending, 10, "the worker to route everything")


async def test_an_offline_device_converges_by_resuming_and_v1_sees_only_v1_frames(
    served: tuple[Node, Settings],
) -> None:
    node, settings = served
    user = unique("alice")
    await emit_routed(settings, 5, for_user(user))
    v1_url = node.ws(f"token={token(user)}")
    async with StreamClient(v1_url) as v1, StreamClient(v2_url(node, user, "phone", 0)) as phone:
        await caught_up(phone)
        await caught_up(v1)
        async with StreamClient(v2_url(node, user, "laptop", 0)) as laptop:
            await caught_up(laptop)
            laptop_view = view_of(laptop)
        assert laptop_view.position == 5 and laptop_view.counts == Counts(5, 5)

        await phone.ws.send(json.dumps({"type": "mark", "op": "read", "seqs": [1, 2, 3]}))
        await phone.ws.send(json.dumps({"type": "mark", "op": "archive", "seqs": [4]}))
        await at_position(phone, 7)

        async with StreamClient(v2_url(node, user, "laptop", laptop_view.position)) as laptop:
            await caught_up(laptop)
            laptop_view = view_of(laptop, laptop_view)

        phone_view = view_of(phone)
        items, counts, pos = await stored(settings, user)
        assert laptop_view.items == phone_view.items == items
        assert laptop_view.counts == phone_view.counts == counts == Counts(2, 4)
        assert laptop_view.position == phone_view.position == pos == 7
        assert items[1] == ItemState(read=True) and items[4] == ItemState(archived=True)

        await emit_routed(settings, 1, for_user(user))  # the sentinel
        await v1.wait_for_seq(6)
        await v1.settle()  # nothing else is on its way
        frames = [f for f in v1.frames if f["type"] != "error"]
        expected = await v1_frames_expected(settings, user, 5)
        assert frames[:2] == expected[:2]
        assert frames[2:] == [f for f in expected[2:] if f["seq"] == 6]


async def test_a_host_retract_rolled_back_changes_nothing_and_committed_reaches_every_device(
    served: tuple[Node, Settings],
) -> None:
    node, settings = served
    alice, bob = unique("alice"), unique("bob")
    emitter = Emitter()

    async def invite(conn: Any) -> None:
        data = {"family": "f-1"}
        await emitter.emit(conn, "family_invite", data, to=Users((alice, bob)), collapse_key="inv")

    await host_transaction(settings, invite, commit=True)
    await routed(settings)
    await emit_routed(settings, 1, for_user(alice))
    urls = [
        v2_url(node, alice, "phone", 0),
        v2_url(node, alice, "laptop", 0),
        v2_url(node, bob, "phone", 0),
    ]
    v1_url = node.ws(f"token={token(alice)}&since=0")
    async with (
        StreamClient(urls[0]) as alice_phone,
        StreamClient(urls[1]) as alice_laptop,
        StreamClient(urls[2]) as bob_phone,
        StreamClient(v1_url) as alice_v1,
    ):
        devices = (alice_phone, alice_laptop, bob_phone)
        for client in (*devices, alice_v1):
            await caught_up(client)

        async def retract(conn: Any) -> None:
            await emitter.retract(conn, "inv")

        await host_transaction(settings, retract, commit=False)
        await emit_routed(settings, 1, Users((alice, bob)))  # a sentinel after the rollback
        for client, pos in ((alice_phone, 3), (alice_laptop, 3), (bob_phone, 2)):
            await at_position(client, pos)
            assert [f["type"] for f in stream_frames(client)] == ["notification"] * pos
        assert (await stored(settings, alice))[1] == Counts(3, 3)

        await host_transaction(settings, retract, commit=True)
        for client, pos in ((alice_phone, 4), (alice_laptop, 4), (bob_phone, 3)):
            await at_position(client, pos)
            [state] = [f for f in stream_frames(client) if f["type"] == "state"]
            assert (state["op"], state["seqs"]) == ("retract", [1])

        for client, user in ((alice_phone, alice), (alice_laptop, alice), (bob_phone, bob)):
            view = view_of(client)
            items, counts, _ = await stored(settings, user)
            assert view.items == items and items[1] == ItemState(retracted=True)
            assert view.counts == counts == view.counted()
        assert (await stored(settings, alice))[1] == Counts(2, 2)
        assert (await stored(settings, bob))[1] == Counts(1, 1)

        await emit_routed(settings, 1, for_user(alice))
        await alice_v1.wait_for_seq(4)
        await alice_v1.settle()
        assert alice_v1.seqs() == [1, 2, 3, 4]
        assert {f["type"] for f in alice_v1.frames} == {
            "welcome",
            "notification",
            "caught_up",
            "error",
        }
        expected = (await v1_frames_expected(settings, alice, 0))[2:]
        assert [f for f in alice_v1.frames if f["type"] == "notification"] == expected


async def test_marks_over_websocket_answer_errors_and_no_ops(
    served: tuple[Node, Settings],
) -> None:
    node, settings = served
    user = unique("carol")
    await emit_routed(settings, 2, for_user(user))
    async with StreamClient(v2_url(node, user, "phone", 0)) as phone:
        await caught_up(phone)
        await phone.ws.send(json.dumps({"type": "mark", "op": "read", "seqs": [3]}))
        await phone.ws.send(json.dumps({"type": "mark", "op": "unread", "upto": 2}))  # no-op
        await phone.ws.send(json.dumps({"type": "mark", "op": "read", "upto": 2}))
        await at_position(phone, 3)
        [error] = phone.of_type("error")
        assert error["code"] == "seq_above_head"
        [state] = [f for f in stream_frames(phone) if f["type"] == "state"]
        assert (state["op"], state["seqs"], state["upto"]) == ("read", [], 2)
        assert state["counts"] == {"unread": 0, "unarchived": 2}
        await phone.ws.send(json.dumps({"type": "ack", "pos": 3}))
        store = await SqliteStore.open(settings.sqlite_path)
        try:

            async def acked() -> bool:
                return await store.stream_acked(user, "phone") == 3

            await until(acked, 5, "the stream ack to be stored")
            assert await store.acked(user, "phone") == 0
        finally:
            await store.close()
    async with StreamClient(v2_url(node, user, "phone")) as again:  # resumes from its ack
        await caught_up(again)
        assert again.of_type("welcome")[0]["since"] == 3
        assert stream_frames(again) == []


async def test_an_unknown_version_is_refused_with_4400(served: tuple[Node, Settings]) -> None:
    node, _ = served
    async with connect(node.ws(f"token={token('dave')}&v=3")) as ws:
        assert await close_code(ws) == 4400
