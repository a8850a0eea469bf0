"""One timer wheel per node: token expiry and keepalive pings of every connection.

A connection asks to be woken at a time (:meth:`TimerWheel.schedule`); the wheel keeps it in
the slot of that second and wakes every connection of a slot from one task, ticking once per
``resolution``. A node with 100,000 idle connections thus runs one timer rather than a
sleeping task each (about 1 KiB and a wake-up per second per connection) or a ``call_later``
each (a handle and a heap entry, re-armed at every ping).

Times are on the wall clock (``time.time()``), the clock of tokens' ``exp``. An item is woken
at the time it asked for or up to one ``resolution`` later, never before.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_RESOLUTION = 1.0
# Past this many slots between two ticks (the clock jumped), look at the slots that exist
# rather than at every second in between.
_LARGE_GAP = 4096


class Timed(Protocol):
    """Something the wheel wakes: a connection, or a socket for its pings."""

    def on_timer(self, now: float) -> float | None:
        """Called at or after the time asked for; returns the next time to be woken, or
        ``None`` for no further wake-up. Must not block; must not raise."""


class TimerWheel:
    """Wakes :class:`Timed` items at the times they ask for, at ``resolution`` seconds.

    Each item is in at most one slot: scheduling it again moves it, and :meth:`cancel`
    removes it (a closed connection is not kept alive until its old slot comes).
    """

    def __init__(
        self, resolution: float = DEFAULT_RESOLUTION, clock: Callable[[], float] = time.time
    ) -> None:
        self._resolution = resolution
        self._clock = clock
        self._slots: dict[int, set[Timed]] = {}
        self._where: dict[Timed, int] = {}
        self._fired = math.floor(clock() / resolution)  # every slot up to here has fired
        self._task: asyncio.Task[None] | None = None

    def now(self) -> float:
        """The wheel's clock: what times given to :meth:`schedule` are measured on."""
        return self._clock()

    def __len__(self) -> int:
        """How many items wait for a wake-up."""
        return len(self._where)

    def schedule(self, item: Timed, at: float) -> None:
        """Wake ``item`` at ``at`` (or up to one resolution later), instead of any earlier
        request of its own."""
        slot = max(math.ceil(at / self._resolution), self._fired + 1)
        current = self._where.get(item)
        if current == slot:
            return
        if current is not None:
            self._discard(item, current)
        self._where[item] = slot
        members = self._slots.get(slot)
        if members is None:
            self._slots[slot] = {item}
        else:
            members.add(item)

    def cancel(self, item: Timed) -> None:
        """Forget ``item``; unknown items are ignored."""
        slot = self._where.pop(item, None)
        if slot is not None:
            self._discard(item, slot)

    def start(self) -> None:
        """Tick in the background until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._tick(), name="tidings-timer-wheel")

    async def stop(self) -> None:
        """Stop ticking (items stay scheduled, and are not woken)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def fire(self, now: float) -> None:
        """Wake every item due at ``now`` (what each tick does)."""
        last = math.floor(now / self._resolution)
        if last <= self._fired:
            return
        if last - self._fired > _LARGE_GAP:
            due = sorted(slot for slot in self._slots if slot <= last)
        else:
            due = [slot for slot in range(self._fired + 1, last + 1) if slot in self._slots]
        self._fired = last
        for slot in due:
            for item in self._slots.pop(slot, ()):
                del self._where[item]
                try:
                    following = item.on_timer(now)
                except Exception:  # a bug in one item must not stop every other's timers
                    log.exception("a timer callback raised; it is not woken again")
                    continue
                if following is not None:
                    self.schedule(item, following)

    def _discard(self, item: Timed, slot: int) -> None:
        members = self._slots[slot]
        members.discard(item)
        if not members:
            del self._slots[slot]

    async def _tick(self) -> None:
        while True:
            now = self._clock()
            await asyncio.sleep(self._resolution - now % self._resolution)  # the next slot
            self.fire(self._clock())
