"""The broker port's contract, run unchanged against both adapters (Redis and memory)."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter

from broker import Broker, MemoryBroker, RedisBroker
from foundation.errors import SignalUnavailable
from tests.services import free_port

BROKERS = ("redis", "memory")


@pytest.fixture(params=BROKERS)
async def broker(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Broker]:
    opened: Broker = RedisBroker(redis_url) if request.param == "redis" else MemoryBroker()
    yield opened
    await opened.close()


def name(what: str) -> str:
    """A key or channel of this test's own (pub/sub channels are server-wide)."""
    return f"tidings:test:{what}:{uuid.uuid4().hex[:8]}"


async def first(subscription: object, count: int) -> list[tuple[str, bytes]]:
    received = []
    async for item in subscription:  # type: ignore[attr-defined]
        received.append(item)
        if len(received) == count:
            return received
    raise AssertionError("the subscription ended")


async def test_published_messages_reach_subscribers_in_order(broker: Broker) -> None:
    live, other = name("live"), name("other")
    async with broker.subscribe([live, other]) as subscription:
        await broker.publish(live, [b"1", b"2"])
        await broker.publish(other, [b"x"])
        await broker.publish(live, [b"3"])
        got = await asyncio.wait_for(first(subscription, 4), 5)
    assert [data for channel, data in got if channel == live] == [b"1", b"2", b"3"]
    assert [data for channel, data in got if channel == other] == [b"x"]


async def test_every_subscriber_gets_every_message_and_nobody_else_does(broker: Broker) -> None:
    channel, elsewhere = name("live"), name("elsewhere")
    async with (
        broker.subscribe([channel]) as one,
        broker.subscribe([channel]) as two,
        broker.subscribe([elsewhere]) as three,
    ):
        await broker.publish(channel, [b"a"])
        assert await asyncio.wait_for(first(one, 1), 5) == [(channel, b"a")]
        assert await asyncio.wait_for(first(two, 1), 5) == [(channel, b"a")]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(first(three, 1), 0.2)


async def test_publish_adds_to_a_counter_in_the_same_step(broker: Broker) -> None:
    counter = name("routed")
    await broker.publish(name("live"), [b"m"], count=(counter, 3))
    await broker.publish(name("live"), [b"m"], count=(counter, 2))
    assert await broker.counter(counter) == 5
    assert await broker.add(counter, 1) == 6
    assert await broker.counter(name("none")) == 0


async def test_a_value_is_taken_once(broker: Broker) -> None:
    key = name("ticket")
    await broker.put(key, b"principal", 30)
    taken = await asyncio.gather(*(broker.take(key) for _ in range(5)))
    assert sorted(taken, key=bool) == [None, None, None, None, b"principal"]
    assert await broker.take(key) is None


async def test_values_expire(broker: Broker) -> None:
    key = name("ticket")
    await broker.put(key, b"v", 0.05)
    prefix = name("presence")
    await broker.put(prefix + ":a", b"1", 0.05)
    await broker.put(prefix + ":b", b"2", 30)

    async def expired() -> bool:
        return await broker.take(key) is None and await broker.values(prefix) == [b"2"]

    deadline = asyncio.get_running_loop().time() + 5
    while not await expired():
        assert asyncio.get_running_loop().time() < deadline, "values did not expire"
        await asyncio.sleep(0.02)  # waiting for an expiry, with a deadline


async def test_values_by_prefix_and_delete(broker: Broker) -> None:
    prefix = name("presence")
    await broker.put(prefix + ":n1", b"3", 30)
    await broker.put(prefix + ":n2", b"4", 30)
    await broker.put(name("other"), b"9", 30)
    assert sorted(await broker.values(prefix)) == [b"3", b"4"]
    await broker.delete(prefix + ":n1")
    assert await broker.values(prefix) == [b"4"]


async def test_rate_limit_storage_counts_windows(broker: Broker) -> None:
    limiter = MovingWindowRateLimiter(broker.rate_limit_storage())
    rate, who = parse("2/minute"), name("user")
    assert [await limiter.hit(rate, "rest", who) for _ in range(3)] == [True, True, False]
    await broker.ping()


async def test_an_unreachable_redis_says_so() -> None:
    down = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(SignalUnavailable):
            await down.ping()
        with pytest.raises(SignalUnavailable):
            await down.publish("tidings:test", [b"x"])
        with pytest.raises(SignalUnavailable):
            async with down.subscribe(["tidings:test"]):
                pass
    finally:
        await down.close()


def test_only_redis_spans_processes() -> None:
    assert RedisBroker.spans_processes
    assert not MemoryBroker.spans_processes
