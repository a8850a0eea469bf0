"""The node's timer wheel: each item woken once per request, never early, and forgotten."""

import asyncio

from delivery.timers import TimerWheel


class Item:
    def __init__(self, every: float | None = None) -> None:
        self.woken: list[float] = []
        self.every = every

    def on_timer(self, now: float) -> float | None:
        self.woken.append(now)
        return now + self.every if self.every is not None else None


def test_an_item_is_woken_at_its_time_not_before() -> None:
    wheel = TimerWheel(clock=lambda: 100.0)
    item = Item()
    wheel.schedule(item, 102.5)
    for now in (101.0, 102.0, 102.4):
        wheel.fire(now)
        assert item.woken == [], now
    wheel.fire(103.0)  # at most one resolution late
    assert item.woken == [103.0]
    wheel.fire(110.0)
    assert item.woken == [103.0]  # once
    assert len(wheel) == 0


def test_scheduling_again_moves_the_item() -> None:
    wheel = TimerWheel(clock=lambda: 0.0)
    item = Item()
    wheel.schedule(item, 10.0)
    wheel.schedule(item, 3.0)
    wheel.fire(3.0)
    assert item.woken == [3.0]
    wheel.fire(20.0)
    assert item.woken == [3.0]  # not in its old slot any more
    wheel.schedule(item, 30.0)
    wheel.schedule(item, 40.0)  # later is a move too
    wheel.fire(35.0)
    assert item.woken == [3.0]
    wheel.fire(40.0)
    assert item.woken == [3.0, 40.0]


def test_the_returned_time_wakes_the_item_again() -> None:
    wheel = TimerWheel(clock=lambda: 0.0)
    item = Item(every=5.0)
    wheel.schedule(item, 5.0)
    for now in range(1, 21):
        wheel.fire(float(now))
    assert item.woken == [5.0, 10.0, 15.0, 20.0]
    assert len(wheel) == 1


def test_a_cancelled_item_is_forgotten() -> None:
    wheel = TimerWheel(clock=lambda: 0.0)
    kept, cancelled = Item(), Item()
    wheel.schedule(kept, 2.0)
    wheel.schedule(cancelled, 2.0)
    wheel.cancel(cancelled)
    wheel.cancel(Item())  # unknown: ignored
    assert len(wheel) == 1
    wheel.fire(2.0)
    assert (kept.woken, cancelled.woken) == ([2.0], [])


def test_a_clock_jump_wakes_everything_due() -> None:
    wheel = TimerWheel(clock=lambda: 0.0)
    items = [Item() for _ in range(3)]
    for delay, item in zip((1.0, 50.0, 10_000_000.0), items, strict=True):
        wheel.schedule(item, delay)
    wheel.fire(100_000.0)
    assert [len(item.woken) for item in items] == [1, 1, 0]


def test_an_item_that_raises_does_not_stop_the_others() -> None:
    class Broken:
        def on_timer(self, now: float) -> float | None:
            raise RuntimeError("bug")

    wheel = TimerWheel(clock=lambda: 0.0)
    item = Item()
    wheel.schedule(Broken(), 1.0)
    wheel.schedule(item, 1.0)
    wheel.fire(1.0)
    assert item.woken == [1.0]


async def test_the_wheel_ticks_on_its_own() -> None:
    wheel = TimerWheel(resolution=0.01)
    woken = asyncio.Event()

    class Waker:
        def on_timer(self, now: float) -> float | None:
            woken.set()
            return None

    wheel.start()
    try:
        wheel.schedule(Waker(), 0.0)
        await asyncio.wait_for(woken.wait(), 2)
    finally:
        await wheel.stop()
