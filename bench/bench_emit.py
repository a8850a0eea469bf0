"""Emit cost in the host: CPU per emit on the embedded store, and the MongoDB emit's commands.

Run: ``.venv/bin/python bench/bench_emit.py [--baseline REV] [--emits N] [--rounds R]``
(under ``flock /work/bench.lock`` on a shared machine).

The same measuring code runs, in fresh processes, against this tree and against ``REV``
(default ``main``, extracted with ``git archive`` into a temporary directory), alternating,
``R`` rounds each; the median of the rounds is printed beside the baseline's, from one run.

Embedded store, ``N`` host transactions of one emit each on a ``sqlite3`` connection from
``Tidings.connect()`` to a migrated store, a ~290-byte notification to one user; CPU is
``time.process_time`` around each measured part only (the timer's own cost subtracted):

- ``build_record``: validation, encoding, ids and timestamp (``now`` taken as ``emit`` does);
- ``emit in txn``: ``Emitter.emit(conn, ...)`` inside a transaction already open (the cost
  tidings adds to the host's transaction);
- ``BEGIN+emit+COMMIT``: ``BEGIN IMMEDIATE``, the emit, ``COMMIT``;
- ``run_in_transaction``: the same through ``api_hooks.run_in_transaction`` (no broker);
- ``SQLite floor``: ``BEGIN IMMEDIATE``, one prepared insert of a row built beforehand,
  ``COMMIT``: what SQLite alone costs, the least any emit can cost on this store;
- ``BEGIN+COMMIT only``: the host's transaction with nothing written (no pages to commit).

Every 250 transactions, outside the measured parts, the outbox is emptied and the log
checkpointed, as the routing worker and its checkpointer do. ``no worker`` is
``BEGIN+emit+COMMIT`` with nothing emptied or checkpointed: the outbox grows and the host's
connection runs SQLite's automatic checkpoints in its own commits.

MongoDB, against the mongoeco wire double (serving from this driver process, so its CPU is
not counted), up to 3 rounds: the commands one host transaction sends through
``run_in_transaction`` with one emit, counted with ``pymongo.monitoring`` (counts only),
and the client's CPU per emit.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MAINTAIN_EVERY = 250
MONGO_EMITS = 100
MONGO_ROUNDS = 3
SQLITE_PARTS = (
    "build_record",
    "emit in txn",
    "BEGIN+emit+COMMIT",
    "run_in_transaction",
    "SQLite floor",
    "BEGIN+COMMIT only",
    "no worker",
)
MONGO_PARTS = ("mongo build+encode", "mongo emit in txn")


def payload(i: int) -> dict[str, Any]:
    return {"amount": i, "from": "alice", "note": "x" * 200, "ok": True}


class Segments:
    """Sums ``process_time`` over measured parts, less the timer's own cost."""

    def __init__(self) -> None:
        clock = time.process_time
        start = clock()
        for _ in range(10_000):
            clock()
        self.overhead = (clock() - start) / 10_000
        self.total = 0.0
        self.count = 0

    @contextlib.contextmanager
    def part(self) -> Iterator[None]:
        start = time.process_time()
        yield
        self.total += time.process_time() - start - self.overhead
        self.count += 1

    def micros(self) -> float:
        return self.total / self.count * 1e6


# --- Measuring, in a child process whose imports come from ``--tree`` -----------------------


type Body = Callable[[int, Segments], Awaitable[None]]


async def timed(emits: int, maintain: Callable[[int], None], body: Body) -> float:
    """Run ``body`` for each emit, maintaining the store in between; us per measured part."""
    seg = Segments()
    for i in range(emits):
        maintain(i)
        await body(i, seg)
    return seg.micros()


def to(i: int) -> Any:
    from outbox.records import Users

    return Users((f"user{i % 1000}",))


class SqliteParts:
    """The measured parts on one connection from ``Tidings.connect()``."""

    def __init__(self, conn: Any, emitter: Any, row: tuple[object, ...]) -> None:
        self.conn, self.emitter, self.row = conn, emitter, row

    def maintain(self, i: int) -> None:
        from foundation.constants import OUTBOX

        if i % MAINTAIN_EVERY == 0:
            self.conn.execute(f"DELETE FROM {OUTBOX}")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def emit(self, conn: Any, i: int) -> None:
        await self.emitter.emit(conn, "bench_event", payload(i), to=to(i))

    async def in_txn(self, i: int, seg: Segments) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        with seg.part():
            await self.emit(self.conn, i)
        self.conn.execute("COMMIT")

    async def whole(self, i: int, seg: Segments) -> None:
        with seg.part():
            self.conn.execute("BEGIN IMMEDIATE")
            await self.emit(self.conn, i)
            self.conn.execute("COMMIT")

    async def helper(self, i: int, seg: Segments) -> None:
        from api_hooks import run_in_transaction

        with seg.part():
            await run_in_transaction(self.conn, lambda c: self.emit(c, i))

    async def floor(self, i: int, seg: Segments) -> None:
        from outbox.stores.sqlite.transactions import INSERT_RECORD

        fresh = (f"{i:032x}", *self.row[1:])
        with seg.part():
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(INSERT_RECORD, fresh)
            self.conn.execute("COMMIT")

    async def empty(self, i: int, seg: Segments) -> None:
        with seg.part():
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("COMMIT")


async def measure_sqlite(emits: int) -> dict[str, float]:
    from api_hooks import Emitter
    from api_hooks.validation import build_record
    from outbox.stores.sqlite.rows import record_row
    from outbox.stores.sqlite.schema import apply_sqlite
    from tidings import Tidings, load_settings

    async def build(i: int, seg: Segments) -> None:
        with seg.part():
            build_record(event="bench_event", data=payload(i), to=to(i), now=datetime.now(UTC))

    figures = {"build_record": await timed(emits, lambda i: None, build)}
    with tempfile.TemporaryDirectory() as tmp:
        host = Tidings(load_settings(data_dir=Path(tmp), mongodb_url=None, store_url=None))
        apply_sqlite(host.settings.sqlite_path)
        conn = host.connect()
        row = record_row(
            build_record(event="bench_event", data=payload(0), to=to(0), now=datetime.now(UTC))
        )
        parts = SqliteParts(conn, Emitter(host.settings), row)
        figures["emit in txn"] = await timed(emits, parts.maintain, parts.in_txn)
        figures["BEGIN+emit+COMMIT"] = await timed(emits, parts.maintain, parts.whole)
        figures["run_in_transaction"] = await timed(emits, parts.maintain, parts.helper)
        figures["SQLite floor"] = await timed(emits, parts.maintain, parts.floor)
        figures["BEGIN+COMMIT only"] = await timed(emits, parts.maintain, parts.empty)
        parts.maintain(0)
        figures["no worker"] = await timed(emits, lambda i: None, parts.whole)
        conn.close()
    return figures


async def measure_mongo(url: str) -> dict[str, Any]:
    from pymongo import AsyncMongoClient, monitoring

    from api_hooks import Emitter, run_in_transaction
    from api_hooks.validation import build_record
    from foundation.constants import OUTBOX
    from outbox.records import Users
    from outbox.stores.mongo.documents import outbox_document
    from tidings import load_settings

    class Counting(monitoring.CommandListener):
        def __init__(self) -> None:
            self.commands: Counter[str] = Counter()

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            self.commands[event.command_name] += 1

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    import bson

    seg = Segments()
    for i in range(5_000):
        to = Users((f"user{i % 1000}",))
        with seg.part():
            record = build_record(
                event="bench_event", data=payload(i), to=to, now=datetime.now(UTC)
            )
            bson.encode(outbox_document(record))
    figures: dict[str, Any] = {"mongo build+encode": seg.micros()}

    counter = Counting()
    database = f"bench_emit_{os.getpid()}"
    client: Any = AsyncMongoClient(url, tz_aware=True, event_listeners=[counter])
    emitter = Emitter(load_settings(mongodb_database=database, mongodb_url=None, store_url=None))
    seg = Segments()
    per_transaction: list[Counter[str]] = []
    for i in range(MONGO_EMITS):
        if i % 20 == 0:
            await client[database][OUTBOX].delete_many({})

        async def one(session: Any, i: int = i) -> None:
            with seg.part():
                await emitter.emit(session, "bench_event", payload(i), to=Users(("bob",)))

        counter.commands.clear()
        await run_in_transaction(client, one)
        per_transaction.append(Counter(counter.commands))
    figures["mongo emit in txn"] = seg.micros()
    distinct = {tuple(sorted(c.items())) for c in per_transaction}
    figures["commands"] = [dict(c) for c in distinct]
    await client.drop_database(database)
    await client.close()
    return figures


def child(arguments: argparse.Namespace) -> None:
    sys.path.insert(0, str(arguments.tree))
    import api_hooks

    assert Path(api_hooks.__file__).is_relative_to(arguments.tree), api_hooks.__file__
    if arguments.mongo_url:
        result = asyncio.run(measure_mongo(arguments.mongo_url))
    else:
        result = asyncio.run(measure_sqlite(arguments.emits))
    print(json.dumps(result))


# --- Driving: this tree and the baseline's, alternating --------------------------------------


def run_child(tree: Path, *options: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--tree", str(tree), *options]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tree, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def baseline_tree(rev: str) -> Iterator[tuple[Path, str]]:
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-emit-base-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp), commit


def medians(runs: list[dict[str, Any]], parts: tuple[str, ...]) -> dict[str, float]:
    return {part: statistics.median(run[part] for run in runs) for part in parts}


def report(title: str, trees: dict[str, list[dict[str, Any]]], parts: tuple[str, ...]) -> None:
    print(f"\n{title}: us of CPU per emit, median of {len(next(iter(trees.values())))} runs")
    names = list(trees)
    print(f"{'part':<22}" + "".join(f"{name:>16}" for name in names) + f"{'after/before':>14}")
    figures = {name: medians(runs, parts) for name, runs in trees.items()}
    for part in parts:
        row = [figures[name][part] for name in names]
        print(f"{part:<22}" + "".join(f"{v:>16.1f}" for v in row) + f"{row[-1] / row[0]:>14.2f}")
    for name, runs in trees.items():
        each = "; ".join(" ".join(f"{run[p]:.1f}" for p in parts) for run in runs)
        print(f"  {name} runs: {each}")


def driver(arguments: argparse.Namespace) -> None:
    sqlite_runs: dict[str, list[dict[str, Any]]] = {}
    mongo_runs: dict[str, list[dict[str, Any]]] = {}
    with baseline_tree(arguments.baseline) as (base, commit):
        trees = {f"before {commit}": base, "after (this tree)": REPO}
        for name in trees:
            sqlite_runs[name] = []
        for round_ in range(arguments.rounds):
            order = list(trees.items()) if round_ % 2 == 0 else list(trees.items())[::-1]
            for name, tree in order:
                sqlite_runs[name].append(run_child(tree, "--emits", str(arguments.emits)))
        if not arguments.no_mongo:
            sys.path.insert(0, str(REPO))
            from tests.mongo_server import mongo_endpoint

            with mongo_endpoint() as endpoint:
                for name in trees:
                    mongo_runs[name] = []
                for round_ in range(min(arguments.rounds, MONGO_ROUNDS)):
                    order = list(trees.items()) if round_ % 2 == 0 else list(trees.items())[::-1]
                    for name, tree in order:
                        mongo_runs[name].append(run_child(tree, "--mongo-url", endpoint.url))
    print(
        f"Emit cost in the host, {arguments.emits} host transactions per run,"
        f" {os.uname().machine}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    report("Embedded store", sqlite_runs, SQLITE_PARTS)
    if mongo_runs:
        report("MongoDB (mongoeco double; client CPU only)", mongo_runs, MONGO_PARTS)
        for name, runs in mongo_runs.items():
            print(f"  {name} commands per host transaction with one emit: {runs[0]['commands']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--emits", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-mongo", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=REPO, help=argparse.SUPPRESS)
    parser.add_argument("--mongo-url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    (child if arguments.child else driver)(arguments)


if __name__ == "__main__":
    main()
