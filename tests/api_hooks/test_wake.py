"""Coalesced wake-ups: a burst of commits shares wake-ups, and none is left uncovered."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from api_hooks import Waker
from broker import MemoryBroker, RedisBroker
from foundation.constants import WAKE_AND_WATCH, WAKE_CHANNEL, WAKE_QUIET_SECONDS
from tests.services import free_port
from tidings import Tidings, load_settings


class GatedBroker(MemoryBroker):
    """A broker whose wake-ups are held until the test lets each one through."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Semaphore(0)
        self.started = 0  # publishes begun
        self.finished = 0

    async def publish(
        self, channel: str, messages: Sequence[bytes], *, count: tuple[str, int] | None = None
    ) -> None:
        self.started += 1
        await self.gate.acquire()
        await super().publish(channel, messages, count=count)
        self.finished += 1


async def until(condition: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)


async def test_calls_made_during_a_wake_up_share_the_next_one() -> None:
    broker = GatedBroker()
    waker = Waker(broker)
    first = asyncio.create_task(waker.wake())
    await until(lambda: broker.started == 1)
    # Ten commits land while the first wake-up is on its way: it may have left before them.
    later = [asyncio.create_task(waker.wake()) for _ in range(10)]
    await asyncio.sleep(0)  # one turn of the loop: each call registers
    broker.gate.release()
    await first
    assert not any(task.done() for task in later)  # the first one does not cover them
    await until(lambda: broker.started == 2)
    broker.gate.release()
    await asyncio.gather(*later)
    assert broker.finished == waker.sent == 2  # eleven calls, two wake-ups


async def test_a_caller_waits_for_at_most_two_wake_ups_however_busy_the_host() -> None:
    broker = GatedBroker()
    waker = Waker(broker)
    calls = [asyncio.create_task(waker.wake())]
    for published in range(1, 6):  # a stream of commits that never pauses
        await until(lambda n=published: broker.started == n)
        calls.append(asyncio.create_task(waker.wake()))  # lands while one is on its way
        await asyncio.sleep(0)  # one turn of the loop: the call registers
        broker.gate.release()
        await until(lambda n=published: broker.finished == n)
        # The call made during wake-up n is covered by wake-up n + 1, never later.
        await until(lambda n=published: calls[n - 1].done())
        assert [call.done() for call in calls] == [True] * published + [False]
    broker.gate.release()
    await asyncio.gather(*calls)


async def test_every_wake_up_reaches_a_subscriber() -> None:
    broker = MemoryBroker()
    waker = Waker(broker)
    async with broker.subscribe([WAKE_CHANNEL]) as subscription:
        await asyncio.gather(*(waker.wake() for _ in range(50)))
        received = 0
        async for _ in subscription:
            received += 1
            if received == waker.sent:
                break
    assert 1 <= waker.sent < 50


async def test_a_wake_up_never_raises_when_the_broker_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="api_hooks.wake")
    broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        await asyncio.wait_for(Waker(broker).wake(), 10)
    finally:
        await broker.close()
    assert "wake-up not sent: redis unavailable" in caplog.text
    assert "redis://" not in caplog.text


async def test_pokes_share_wake_ups_without_waiting_and_flush_sends_what_is_due() -> None:
    broker = GatedBroker()
    waker = Waker(broker)
    for _ in range(100):  # commits in a burst: none waits for a wake-up
        waker.poke()
    await until(lambda: broker.started == 1)
    for _ in range(100):  # commits while that one is on its way
        waker.poke()
    flushing = asyncio.create_task(waker.flush())
    broker.gate.release()
    await until(lambda: broker.started == 2)
    assert not flushing.done()
    broker.gate.release()
    await flushing
    assert broker.finished == waker.sent == 2  # two hundred commits, two wake-ups


class BrokenBroker(MemoryBroker):
    """A broker that fails in a way no broker should: a bug, not an outage."""

    async def publish(
        self, channel: str, messages: Sequence[bytes], *, count: tuple[str, int] | None = None
    ) -> None:
        raise RuntimeError("a bug in the broker")


async def test_a_failing_wake_up_never_leaves_a_caller_waiting() -> None:
    waker = Waker(BrokenBroker())
    for _ in range(2):  # nor is the call after it stuck behind the failed one
        call = asyncio.create_task(waker.wake())
        await asyncio.sleep(0)  # one turn of the loop: the call starts its wake-up
        with pytest.raises(RuntimeError):  # the error surfaces where the task is awaited
            await waker.flush()
        await asyncio.wait_for(call, 5)


async def test_a_busy_host_asks_the_workers_to_watch_then_leaves_out_its_wake_ups() -> None:
    broker = MemoryBroker()
    waker = Waker(broker, quiet_seconds=0.5)
    asked = []
    async with broker.subscribe([WAKE_CHANNEL]) as subscription:
        pokes = [10.0, 10.001, 10.002, 10.3, 10.301, 10.6, 10.601, 10.602]
        for now in pokes:
            asked.append(waker.poke(now))
            await waker.flush()
        sent = [message for _, message in [await anext(aiter(subscription)) for _ in range(5)]]
    # A commit 5 ms or more after the one before sends a plain wake-up (10.0, 10.3, 10.6).
    # 10.001 is busy: its wake-up asks the workers to watch, and busy commits send none for
    # half a second (10.002, 10.301); 10.601, busy and past that half second, asks again.
    assert asked == [True, True, False, True, False, True, True, False]
    assert sent == [b"", WAKE_AND_WATCH, b"", b"", WAKE_AND_WATCH]
    assert waker.sent == 5


async def test_without_a_quiet_spell_every_poke_sends_and_none_asks_to_watch() -> None:
    broker = MemoryBroker()
    waker = Waker(broker)
    async with broker.subscribe([WAKE_CHANNEL]) as subscription:
        for now in (10.0, 10.001, 10.002):
            assert waker.poke(now)
            await waker.flush()
        sent = [message for _, message in [await anext(aiter(subscription)) for _ in range(3)]]
    assert sent == [b"", b"", b""]


@pytest.mark.parametrize(("kind", "quiet"), [("sqlite", WAKE_QUIET_SECONDS), ("mongodb", 0.0)])
async def test_the_host_leaves_out_wake_ups_only_where_the_worker_can_watch_commits(
    kind: str, quiet: float, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}" if kind == "sqlite" else "mongodb://db.test/"
    host = Tidings(load_settings(store_url=url, redis_url="memory://"))
    await host.wake()
    assert host._waker is not None
    assert host._waker.quiet_seconds == quiet
    await host.aclose()
