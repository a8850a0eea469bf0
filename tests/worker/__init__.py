"""Shared pieces of the worker tests.

Besides helpers, this module is what the worker and emitter subprocesses import:
``resolvers`` (named by ``TIDINGS_RESOLVERS=tests.worker:resolvers``), :func:`worker_main`
and :func:`emitter_main`. Subprocesses are configured through ``TIDINGS_*`` variables only.
"""

import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from api_hooks.wake import wake
from foundation.constants import RETRACT
from outbox.port import OutboxStore
from outbox.records import (
    Audience,
    Everyone,
    Group,
    OutboxRecord,
    Users,
    new_record_id,
    notification_id_for,
)
from outbox.resolvers import Resolvers
from outbox.stream import CLIENT_OPS, Counts, ItemFilter, Mark, StreamChange
from tests.stream_view import DeviceView

REPO = Path(__file__).resolve().parents[2]

USERS = ("u0", "u1", "u2", "u3", "u4")
TEAMS: Mapping[str, tuple[str, ...]] = {"t1": ("u1", "u3"), "t2": ("u0", "u2", "u4")}


async def _team_members(team_id: str) -> tuple[str, ...]:
    # ``TEST_RESOLVE_DELAY_SECONDS`` makes a worker spend its rounds between claim and append,
    # where a pause hurts most (see test_paused.py).
    delay = float(os.environ.get("TEST_RESOLVE_DELAY_SECONDS", "0"))
    if delay:
        await asyncio.sleep(delay)  # a slow group lookup in the host's database
    return TEAMS[team_id]


resolvers = Resolvers()
resolvers.register("team", _team_members)


def make_resolvers() -> Resolvers:
    """A zero-argument factory, the other form ``TIDINGS_RESOLVERS`` accepts."""
    return resolvers


def recipients(audience: Audience) -> tuple[str, ...]:
    """What the test resolvers make of an audience (no ``Everyone`` in these tests)."""
    match audience:
        case Users(ids):
            return tuple(dict.fromkeys(ids))
        case Group("team", team_id):
            return TEAMS[team_id]
    raise AssertionError(f"unexpected audience {audience!r}")


def make_record(audience: Audience, *, data: dict[str, object] | None = None) -> OutboxRecord:
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=notification_id_for(None, record_id),
        event="thing_happened",
        data=data or {"at": record_id[:8]},
        audience=audience,
        created_at=datetime.now(UTC),
    )


COLLAPSE_KEYS = ("k1", "k2", "k3")


def make_retract(key: str) -> OutboxRecord:
    """A retraction of the notifications holding ``key``, from everyone who holds one."""
    record = make_record(Everyone(), data={})
    return replace(record, kind=RETRACT, collapse_key=key, event="retract")


async def random_mark(store: OutboxStore, rng: random.Random) -> None:
    """One user marks some of their notifications, as a delivery node does for a client."""
    user = rng.choice(USERS)
    head = (await store.stream_head(user)).seq
    if head == 0:
        return
    op = rng.choice(sorted(CLIENT_OPS))
    if rng.random() < 0.3:
        mark = Mark(op, upto=rng.randint(1, head))
    else:
        mark = Mark(op, tuple(rng.sample(range(1, head + 1), min(head, rng.randint(1, 3)))))
    await store.apply_mark(user, mark, datetime.now(UTC))


def random_audience(rng: random.Random) -> Audience:
    """Users of 1-3 of ``USERS``, or now and then a team."""
    if rng.random() < 0.2:
        return Group("team", rng.choice(sorted(TEAMS)))
    return Users(tuple(rng.sample(USERS, rng.randint(1, 3))))


async def wait_until(
    condition: Callable[[], Awaitable[object]], *, timeout: float, interval: float = 0.01
) -> None:
    """Poll ``condition`` every ``interval`` until truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def nothing_pending(store: OutboxStore) -> bool:
    figures = await store.lag()
    return figures.pending == 0


# --- Subprocesses --------------------------------------------------------------------------


def _configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("TEST_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )


def worker_main() -> None:
    """Entry of a worker subprocess: ``run_worker`` with settings from the environment."""
    from foundation.settings import load_settings
    from outbox.worker import run_worker

    _configure_logging()
    run_worker(load_settings(), burst=os.environ.get("TEST_BURST") == "1")


def emitter_main() -> None:
    """Entry of an emitter subprocess: sequential commits until ``TEST_STOP_FILE`` exists.

    After each commit of a notification, appends ``record_id notification_id user,user,...``
    to ``TEST_COMMITTED_FILE`` (flushed), then sends a wake-up. State changes are in the mix:
    some notifications have a collapse key, some commits retract a key, and users mark their
    notifications read, unread, archived or unarchived as a delivery node would.
    """
    _configure_logging()
    asyncio.run(_emit_until_stopped())


async def _emit_until_stopped() -> None:
    from broker import open_broker
    from foundation.settings import load_settings
    from outbox.stores import open_store

    settings = load_settings()
    rng = random.Random(int(os.environ.get("TEST_SEED", "0")))
    stop_file = Path(os.environ["TEST_STOP_FILE"])
    pause = float(os.environ.get("TEST_EMIT_PAUSE", "0"))
    store = await open_store(settings)
    broker = open_broker(settings)
    try:
        with Path(os.environ["TEST_COMMITTED_FILE"]).open("a") as committed:
            while not stop_file.exists():
                choice = rng.random()
                if choice < 0.15:
                    await random_mark(store, rng)
                    continue
                if choice < 0.2:
                    await store.add_records([make_retract(rng.choice(COLLAPSE_KEYS))])
                else:
                    record = make_record(random_audience(rng))
                    if rng.random() < 0.2:
                        record = replace(record, collapse_key=rng.choice(COLLAPSE_KEYS))
                    await store.add_records([record])
                    users = ",".join(recipients(record.audience))
                    committed.write(f"{record.id} {record.notification_id} {users}\n")
                    committed.flush()
                await wake(broker)
                if pause:
                    await asyncio.sleep(pause)  # pacing the load, not waiting for anything
    finally:
        await store.close()
        await broker.close()


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its ``TIDINGS_*`` variables, plus ``env``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    return {**inherited, **env}


def spawn(
    entry: str, env: Mapping[str, str], *, stderr: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``tests.worker.<entry>()`` in a new Python process configured by ``env`` only."""
    return subprocess.Popen(
        [sys.executable, "-c", f"from tests.worker import {entry}; {entry}()"],
        cwd=REPO,
        env=clean_env(env),
        stderr=stderr,
    )


def stop_process(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout``; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


# --- Checking the streams ------------------------------------------------------------------


@dataclass(frozen=True)
class Committed:
    record_id: str
    notification_id: str
    users: tuple[str, ...]


def read_committed(path: Path) -> list[Committed]:
    """The emitter's log, in commit order; a torn last line (killed writer) is dropped."""
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[2]:
            rows.append(Committed(parts[0], parts[1], tuple(parts[2].split(","))))
    return rows


@dataclass(frozen=True)
class StreamReport:
    lost: int
    duplicated: int
    unexpected: int
    gaps: list[str]
    order_violations: list[str]

    def line(self, emitted: int, kills: int) -> str:
        return (
            f"{emitted} emitted, {kills} kills, {self.lost} lost, {self.duplicated} duplicated"
            f" ({self.unexpected} unexpected, {len(self.gaps)} users with gaps,"
            f" {len(self.order_violations)} order violations)"
        )


async def check_streams(store: OutboxStore, committed: Sequence[Committed]) -> StreamReport:
    """Compare every user's inbox with what was committed (G2, G3, G4)."""
    expected: dict[str, list[str]] = defaultdict(list)
    for row in committed:
        for user in row.users:
            expected[user].append(row.notification_id)
    lost = duplicated = unexpected = 0
    gaps: list[str] = []
    order: list[str] = []
    for user in sorted(set(expected) | set(USERS)):
        entries = await store.read_inbox_after(user, 0, 1_000_000)
        seqs = [entry.seq for entry in entries]
        if seqs != list(range(1, len(seqs) + 1)):
            gaps.append(user)
        got = [entry.notification.id for entry in entries]
        counts = Counter(got)
        want = set(expected[user])
        lost += len(want - set(counts))
        duplicated += sum(n - 1 for n in counts.values())
        unexpected += len(set(counts) - want)
        if list(dict.fromkeys(got)) != [n for n in expected[user] if n in counts]:
            order.append(user)
    return StreamReport(lost, duplicated, unexpected, gaps, order)


async def check_stream_state(store: OutboxStore) -> tuple[list[str], int]:
    """Every user's stream (protocol v2): positions 1..pos with no gap, counts equal to a
    recount of the retained notifications, and a device replaying it shows what is stored.

    Returns the problems found and how many changes the streams hold.
    """
    problems: list[str] = []
    changes = 0
    for user in USERS:
        head = await store.stream_head(user)
        device = DeviceView()
        stream = await store.read_stream_after(user, 0, 1_000_000)
        changes += sum(isinstance(item, StreamChange) for item in stream)
        try:
            for item in stream:
                device.apply(item)
        except AssertionError as error:
            problems.append(f"{user}: {error}")
            continue
        items = await store.list_items(user, 0, 1_000_000, ItemFilter(retracted=None))
        stored = {item.entry.seq: item.state for item in items}
        live = [state for state in stored.values() if not state.retracted]
        recounted = Counts(sum(not s.read for s in live), sum(not s.archived for s in live))
        if device.position != head.pos:
            problems.append(f"{user}: stream ends at {device.position}, head is {head.pos}")
        if head.counts != recounted or device.counts != recounted:
            problems.append(f"{user}: counts {head.counts}, device {device.counts}, {recounted}")
        if device.items != stored:
            problems.append(f"{user}: the device shows another state than the store holds")
    return problems, changes
