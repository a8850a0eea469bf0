"""A routing worker paused while it holds the lease, and resumed after another took over.

A pause (SIGSTOP here; a long GC pause or a frozen VM in life) past the lease's expiry is the
classic way a lease-based system writes twice: the paused worker resumes in the middle of its
batch believing it still holds the lease, while another worker has taken over and routed the
same records. Two workers run here while an emitter commits; the one holding the lease is
stopped at a random point of its work, several times, each time until the other has taken
over and routed more, then continued. The resolvers are slowed down so that a round spends
most of its time between its claim and its append, where a pause is most dangerous.

At the end the streams are checked as after the crash test: every inbox 1..n, nothing lost or
duplicated, commit order kept (G2, G3, G4). The resumed workers must have noticed that they
lost the lease (their append refused, logged as yielding) and gone on as standbys: each later
takes over when the other is paused, and both stop cleanly.
"""

import asyncio
import os
import random
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.worker import spawn, stop_process, wait_until
from tests.worker.fleet import (
    Backend,
    drain_and_check,
    lease_holder,
    routed_total,
    start_emitter,
    stop_emitter,
    workers_running,
)

pytestmark = pytest.mark.slow

PAUSES = 6
# A pause that lands inside a SQLite write transaction holds the file's write lock, so nobody
# can take over (nor write at all) until it resumes; such a pause is ended after this long,
# below the 5 s busy timeout the other writers wait, and does not count.
TAKEOVER_SECONDS = 4.0
YIELDED = "routing lease taken over by another worker; yielding"


class PausableWorker:
    """A worker process with its log in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process: subprocess.Popen[bytes] = spawn("worker_main", env, stderr=out)

    @property
    def pid(self) -> int:
        return self.process.pid

    def yielded(self) -> int:
        """How many times its append was refused because another worker held the lease."""
        return self.log.read_text().count(YIELDED)


async def busy_holder(backend: Backend, workers: list[PausableWorker]) -> PausableWorker:
    """The worker that holds the lease, once it has a backlog to route (so it is mid-round)."""
    holder: list[PausableWorker] = []

    async def holding_with_backlog() -> bool:
        found = lease_holder(backend)
        if found is None or found[1] <= datetime.now(UTC):
            return False
        holder[:] = [w for w in workers if w.pid == found[0]]
        backlog = (await backend.store.lag()).pending >= backend.settings.batch_size
        return bool(holder) and backlog

    await wait_until(holding_with_backlog, timeout=30, interval=0.02)
    return holder[0]


async def taken_over(backend: Backend, paused: PausableWorker) -> bool:
    """Whether another worker took the lease and routed more while ``paused`` is stopped."""
    routed_before = await routed_total(backend.store)

    async def other_routes() -> bool:
        found = lease_holder(backend)
        moved = found is not None and found[0] != paused.pid
        return moved and await routed_total(backend.store) > routed_before

    try:
        await wait_until(other_routes, timeout=TAKEOVER_SECONDS, interval=0.02)
    except AssertionError:
        return False
    return True


async def test_a_paused_worker_resumed_after_a_takeover_writes_nothing_twice(
    backend: Backend, tmp_path: Path
) -> None:
    seed = int(os.environ.get("TEST_SEED") or random.randrange(2**32))
    print(f"pause test seed {seed} (rerun with TEST_SEED={seed})")
    rng = random.Random(seed)
    env = {**backend.env, "TEST_LOG_LEVEL": "INFO", "TEST_RESOLVE_DELAY_SECONDS": "0.02"}
    workers = [PausableWorker(env, tmp_path / f"worker-{n}.log") for n in range(2)]
    emitter = start_emitter(backend, seed, pause=0.004)
    client = aioredis.Redis.from_url(backend.settings.redis_url)
    took_over = held_the_lock = 0
    paused_pids: list[int] = []
    try:
        await workers_running(client, 2)
        while took_over < PAUSES:
            assert held_the_lock < PAUSES, "most pauses landed inside a write transaction"
            holder = await busy_holder(backend, workers)
            # The pause schedule itself: a random point of the holder's round.
            await asyncio.sleep(rng.uniform(0.0, 0.2))
            holder.process.send_signal(signal.SIGSTOP)
            try:
                if await taken_over(backend, holder):
                    took_over += 1
                    paused_pids.append(holder.pid)
                else:
                    held_the_lock += 1
            finally:
                holder.process.send_signal(signal.SIGCONT)
        assert emitter.poll() is None, "the emitter died"
        assert all(w.process.poll() is None for w in workers), "a resumed worker died"
    finally:
        await client.aclose()
        stop_emitter(backend, emitter)
        codes = [stop_process(w.process) for w in workers]
    yielded = [w.yielded() for w in workers]
    print(
        f"{took_over} takeovers while paused ({held_the_lock} pauses inside a transaction);"
        f" appends refused after resuming, per worker: {yielded}"
    )
    assert codes == [0, 0]
    # Each worker was paused and took over in turn: the resumed one went on as a standby.
    assert {w.pid for w in workers} <= set(paused_pids)
    assert sum(yielded) >= 1, "no pause landed between a claim and its append"
    await drain_and_check(backend, kills=0)
