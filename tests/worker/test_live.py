"""The live signal format: exact round trips, bounded messages, malformed input refused."""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from api_hooks.wake import wake
from broker import RedisBroker
from foundation.constants import LIVE_CHANNEL, ROUTED_COUNTER_KEY, WAKE_CHANNEL
from outbox.live_wire import (
    LiveBatch,
    _Splitter,
    decode_live_batch,
    encode_live_batch,
    encode_live_messages,
)
from outbox.records import InboxEntry, Notification
from outbox.worker.publisher import publish_live
from tests.services import PrivateRedis, free_port, private_redis
from tests.worker import wait_until

T0 = datetime(2031, 5, 17, 8, 30, 15, 123457, tzinfo=UTC)


def note(n: int, **data: object) -> Notification:
    return Notification(
        id=f"n{n}",
        event="family_member_joined",
        data={"i": n, "name": "Zoë 🚀", **data},
        created_at=T0 + timedelta(microseconds=n),
        origin_session=None if n % 2 else f"s{n}",
    )


def fan_out(notes: list[Notification], users: list[str]) -> list[InboxEntry]:
    """Every user gets every notification, seqs 1.. in order."""
    routed = T0 + timedelta(seconds=1, microseconds=1)
    return [
        InboxEntry(user, seq, n, routed) for user in users for seq, n in enumerate(notes, start=1)
    ]


def test_a_batch_round_trips_exactly() -> None:
    notes = [note(1), note(2, nested={"a": [1, 2.5, None, True]})]
    entries = fan_out(notes, ["alice", "bob"])
    broadcast = note(3)
    decoded = decode_live_batch(encode_live_batch(entries, [broadcast]))
    assert decoded == LiveBatch(tuple(entries), (broadcast,))
    assert all(
        e.routed_at.tzinfo is UTC and e.notification.created_at.tzinfo is UTC
        for e in decoded.entries
    )


def test_each_body_is_encoded_once_per_message() -> None:
    body = note(1, payload="x" * 1000)
    entries = fan_out([body], [f"user{i}" for i in range(50)])
    message = encode_live_batch(entries, [])
    assert message.count(b"x" * 1000) == 1
    assert len(message) < 1000 + 50 * 60


def test_a_batch_within_the_bounds_is_the_message_the_splitter_would_make() -> None:
    notes = [note(i, text="t" * i) for i in range(20)]
    entries = fan_out(notes, ["alice", "bob", "carol"])
    broadcasts = [note(100), notes[3]]

    [message] = encode_live_messages(entries, broadcasts)

    assert [message] == _Splitter(2**62, 2**62).encode(entries, broadcasts)
    assert encode_live_batch(entries, broadcasts) == message


def test_other_timezones_keep_the_instant_and_come_back_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    n = Notification("n", "e", {}, datetime(2031, 1, 1, 10, 0, 0, 1, tzinfo=plus_two))
    decoded = decode_live_batch(encode_live_batch([], [n]))
    assert decoded.broadcasts[0].created_at == n.created_at
    assert decoded.broadcasts[0].created_at.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    n = Notification("n", "e", {}, datetime(2031, 1, 1))
    with pytest.raises(ValueError):
        encode_live_batch([], [n])


def test_an_empty_batch_is_no_message() -> None:
    assert encode_live_messages([], []) == []
    assert decode_live_batch(encode_live_batch([], [])) == LiveBatch((), ())


def test_large_batches_split_in_order_within_the_item_bound() -> None:
    notes = [note(i) for i in range(30)]
    entries = fan_out(notes, ["a", "b", "c"])
    messages = encode_live_messages(entries, notes[:5], max_items=7)
    decoded = [decode_live_batch(m) for m in messages]
    assert all(len(d.entries) + len(d.broadcasts) <= 7 for d in decoded)
    assert [e for d in decoded for e in d.entries] == entries
    assert [b for d in decoded for b in d.broadcasts] == notes[:5]


def test_large_batches_split_within_the_byte_bound() -> None:
    notes = [note(i, blob="y" * 10_000) for i in range(40)]
    entries = fan_out(notes, ["a", "b"])
    messages = encode_live_messages(entries, [], max_bytes=64 * 1024)
    assert len(messages) > 1
    assert all(len(m) <= 64 * 1024 for m in messages)
    assert [e for m in messages for e in decode_live_batch(m).entries] == entries


def test_an_item_larger_than_the_bound_goes_alone() -> None:
    big = note(1, blob="z" * 5000)
    messages = encode_live_messages(fan_out([big, note(2)], ["a"]), [], max_bytes=1000)
    assert [len(decode_live_batch(m).entries) for m in messages] == [1, 1]


def test_the_default_bounds_hold_for_a_big_group() -> None:
    body = note(1, blob="w" * 60_000)
    entries = fan_out([body], [f"member-{i:05d}" for i in range(5000)])
    messages = encode_live_messages(entries, [])
    assert len(messages) == 3
    assert all(len(m) <= 1024 * 1024 for m in messages)


def good_message() -> dict[str, Any]:
    data = encode_live_batch(fan_out([note(1)], ["a"]), [note(2)])
    message: dict[str, Any] = orjson.loads(data)
    return message


@pytest.mark.parametrize(
    "breakage",
    [
        lambda m: m.update(v=2),
        lambda m: m.pop("e"),
        lambda m: m.update(n={}),
        lambda m: m["e"][0].__setitem__(2, "unknown"),
        lambda m: m["e"][0].__setitem__(1, 0),
        lambda m: m["e"][0].__setitem__(1, True),
        lambda m: m["e"][0].__setitem__(1, "1"),
        lambda m: m["e"][0].__setitem__(3, 1.5),
        lambda m: m["e"][0].__setitem__(3, 2**62),
        lambda m: m["e"][0].pop(),
        lambda m: m["n"][0].__setitem__(2, [1]),
        lambda m: m["n"][0].__setitem__(4, 7),
        lambda m: m["b"].append("nope"),
        lambda m: m["b"].append(3),
    ],
)
def test_malformed_messages_raise_value_error(breakage: object) -> None:
    message = good_message()
    breakage(message)  # type: ignore[operator]
    with pytest.raises(ValueError):
        decode_live_batch(orjson.dumps(message))


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b"null", b'{"v":1}', b"\xff"])
def test_garbage_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_live_batch(data)


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest.fixture
async def client(server: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(server.url)
    yield redis
    await redis.aclose()


async def test_publish_sends_the_split_messages_in_order_and_counts_entries(
    server: PrivateRedis, client: aioredis.Redis
) -> None:
    notes = [note(i) for i in range(3000)]
    entries = fan_out(notes, ["a"])
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(LIVE_CHANNEL)
        broker = RedisBroker(server.url)
        try:
            assert await publish_live(broker, entries, [note(9999)]) == 2
        finally:
            await broker.close()
        received: list[LiveBatch] = []

        async def got_both() -> bool:
            message = await pubsub.get_message(timeout=0.05)
            if message is not None:
                received.append(decode_live_batch(message["data"]))
            return len(received) == 2

        await wait_until(got_both, timeout=5)
    assert [e for batch in received for e in batch.entries] == entries
    assert received[1].broadcasts == (note(9999),)
    assert int(await client.get(ROUTED_COUNTER_KEY)) == 3000


async def test_wake_publishes_on_the_wake_channel(
    server: PrivateRedis, client: aioredis.Redis
) -> None:
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(WAKE_CHANNEL)
        broker = RedisBroker(server.url)
        await wake(broker)
        await broker.close()

        async def woken() -> bool:
            return await pubsub.get_message(timeout=0.05) is not None

        await wait_until(woken, timeout=5)


async def test_wake_never_raises_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="api_hooks.wake")
    broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
    await wake(broker)
    await broker.close()
    assert "wake-up not sent: redis unavailable" in caplog.text
    assert "redis://" not in caplog.text
