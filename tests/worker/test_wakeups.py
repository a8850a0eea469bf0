"""The worker's wake-ups: the hosts' messages, and the watch on the store's commits."""

import asyncio
import time
from collections.abc import Callable

from broker import MemoryBroker
from foundation.constants import WAKE_AND_WATCH, WAKE_CHANNEL
from outbox.worker.wakeups import (
    HOT_POLL_SECONDS,
    IDLE_POLL_SECONDS,
    CommitWatcher,
    listen_for_wakes,
    poll_interval,
)


class CountingWatch:
    """A commit watch that reports a commit when told to, and counts the questions."""

    def __init__(self) -> None:
        self.asked = 0
        self.committed = False

    def changed(self) -> bool:
        self.asked += 1
        committed, self.committed = self.committed, False
        return committed

    def close(self) -> None:
        pass


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.001)


def test_the_watch_polls_fast_only_while_hot() -> None:
    assert poll_interval(now=5.0, hot_until=5.5) == HOT_POLL_SECONDS
    assert poll_interval(now=5.5, hot_until=5.5) == IDLE_POLL_SECONDS
    assert poll_interval(now=5.0, hot_until=float("-inf")) == IDLE_POLL_SECONDS


async def test_a_reported_commit_wakes_the_sweep_and_heat_makes_the_watch_ask_often() -> None:
    watch, wake = CountingWatch(), asyncio.Event()
    watcher = CommitWatcher(watch, wake)
    running = asyncio.create_task(watcher.run())
    try:
        await until(lambda: watch.asked >= 1, timeout=5)
        watch.committed = True
        watcher.heat()  # also ends the idle wait at once
        await until(wake.is_set, timeout=5)
        # Idle, 40 questions take four seconds; hot, about 40 ms.
        asked = watch.asked
        await until(lambda: watch.asked >= asked + 40, timeout=2)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_wake_up_asking_to_watch_heats_the_watch_and_a_plain_one_does_not() -> None:
    broker, wake = MemoryBroker(), asyncio.Event()
    heated: list[bool] = []
    listening = asyncio.create_task(listen_for_wakes(broker, wake, lambda: heated.append(True)))
    try:
        await until(wake.is_set, timeout=5)  # subscribed: it looks at once
        wake.clear()
        await broker.publish(WAKE_CHANNEL, [b""])
        await until(wake.is_set, timeout=5)
        assert heated == []
        wake.clear()
        await broker.publish(WAKE_CHANNEL, [WAKE_AND_WATCH])
        await until(wake.is_set, timeout=5)
        assert heated == [True]
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
