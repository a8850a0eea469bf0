"""The host emitter of ``bench_pipeline.py``: one notification per host transaction.

Runs as its own process and emits the way a host application does, through the public
facade only: ``Tidings(load_settings())``, ``t.connect()`` (a ``sqlite3`` connection to the
embedded store's file), and for each notification ``await t.run_in_transaction(conn, cb)``
(``BEGIN IMMEDIATE``, the callback, ``COMMIT``, then the wake-up) with ``cb`` calling
``await t.emit(conn, ...)`` for one user. The data carry ``t``, ``time.monotonic_ns()`` taken
as the callback ends, right before the commit (CLOCK_MONOTONIC is one clock for every process
on the machine): the load generator's latency is therefore commit (and the commit itself) to
frame received.

``python bench/pipeline_emitter.py [TREE]``: with ``TREE``, tidings is imported from that
source tree (a baseline checkout) instead of this one. Settings come from ``TIDINGS_*``.

Driven by JSON lines on stdin, one JSON line answered on stdout per command:

- ``{"cmd": "run", "rate": R|null, "seconds": S, "users": [...]}``: emit for ``S`` seconds,
  ``R`` per second on an absolute schedule (``null``: one after the other, as fast as it
  goes), each to the next user of ``users`` in turn (the turn carries over between runs).
  Answers how many were emitted, the seconds it took, this process's CPU seconds, how late
  the last emit was against the schedule, and how many each user got.
- ``{"cmd": "exit"}``: leave.
"""

import asyncio
import sys
import time
from typing import Any

if len(sys.argv) > 1 and sys.argv[1]:
    sys.path.insert(0, sys.argv[1])

import orjson

from tidings import Tidings, Users, load_settings

EVENT = "bench_event"
PAD = "x" * 220  # with the stamp, about 250 bytes of data, as the delivery benchmark's


class Emitter:
    """One host connection and the turn of users, kept between runs."""

    def __init__(self) -> None:
        self.tidings = Tidings(load_settings())
        self.conn = self.tidings.connect()
        self.turn = 0

    async def emit_one(self, user: str) -> None:
        tidings = self.tidings

        async def callback(conn: Any) -> None:
            data = {"pad": PAD, "t": 0}
            data["t"] = time.monotonic_ns()
            await tidings.emit(conn, EVENT, data, to=Users((user,)))

        await tidings.run_in_transaction(self.conn, callback)

    async def run(self, rate: float | None, seconds: float, users: list[str]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        cpu = time.process_time()
        started = time.monotonic()
        end = started + seconds
        emitted = 0
        late = 0.0
        while True:
            now = time.monotonic()
            if rate is not None:
                due = started + emitted / rate
                if due >= end:
                    break
                if due > now:
                    await asyncio.sleep(due - now)  # pacing the offered load
                late = max(0.0, time.monotonic() - due)
            elif now >= end:
                break
            user = users[self.turn % len(users)]
            self.turn += 1
            await self.emit_one(user)
            counts[user] = counts.get(user, 0) + 1
            emitted += 1
        return {
            "emitted": emitted,
            "seconds": time.monotonic() - started,
            "cpu": time.process_time() - cpu,
            "late": late,
            "counts": counts,
        }

    async def close(self) -> None:
        self.conn.close()
        await self.tidings.aclose()


async def main() -> None:
    emitter = Emitter()
    out = sys.stdout
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            command = orjson.loads(line)
            if command["cmd"] == "exit":
                out.write("{}\n")
                out.flush()
                break
            reply = await emitter.run(command["rate"], command["seconds"], command["users"])
            out.write(orjson.dumps(reply).decode() + "\n")
            out.flush()
    finally:
        await emitter.close()


if __name__ == "__main__":
    asyncio.run(main())
