"""Operator commands: ``status`` and ``dead list|retry``."""

import argparse
import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broker import Broker, open_broker
from foundation.constants import NODE_CONNECTIONS_PREFIX, ROUTED_COUNTER_KEY
from foundation.errors import SignalUnavailable
from foundation.settings import Settings
from outbox.port import OutboxStore
from outbox.records import LagFigures
from outbox.stores import open_store

LAG_EXCEEDED = 3
RATE_SAMPLE_SECONDS = 1.0


def add_operation_commands(commands: Any) -> None:
    """Register ``status`` and ``dead`` on the CLI's subparsers."""
    status = commands.add_parser("status", help="print outbox lag, pending and dead records")
    status.add_argument("--json", action="store_true", help="one JSON object per report")
    status.add_argument("--watch", type=float, metavar="SECONDS", help="repeat every SECONDS")
    status.add_argument(
        "--max-lag",
        type=float,
        metavar="SECONDS",
        help=f"exit with status {LAG_EXCEEDED} when the lag is above SECONDS",
    )
    status.set_defaults(handler=_status)

    dead = commands.add_parser("dead", help="list or re-queue dead records")
    actions = dead.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="dead records, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_dead_list)
    retry = actions.add_parser("retry", help="make dead records pending again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true")
    retry.set_defaults(handler=_dead_retry)


@dataclass(frozen=True)
class Traffic:
    """What the broker knows: routed entries so far (all workers) and open connections (all
    nodes). ``None`` when it did not answer.
    """

    routed_total: int | None
    connections: int | None


def status_report(
    figures: LagFigures, now: datetime, traffic: Traffic, routed_per_second: float | None
) -> dict[str, Any]:
    """The figures ``tidings status`` prints."""
    return {
        "pending": figures.pending,
        "lag_seconds": round(figures.lag_seconds(now), 3),
        "dead": figures.dead,
        "oldest_pending_at": figures.oldest_pending_at.isoformat()
        if figures.oldest_pending_at
        else None,
        "routed_per_second": None if routed_per_second is None else round(routed_per_second, 1),
        "routed_total": traffic.routed_total,
        "connections": traffic.connections,
    }


async def read_traffic(broker: Broker) -> Traffic:
    """Read the routed counter and sum the nodes' connection counts; never raises.

    Unknown (``None``) when the broker does not answer, and with ``memory://``, whose
    figures live in the one process that routes and serves, not in this command's.
    """
    if not broker.spans_processes:
        return Traffic(None, None)
    try:
        routed = await broker.counter(ROUTED_COUNTER_KEY)
        counts = await broker.values(NODE_CONNECTIONS_PREFIX)
    except SignalUnavailable:
        return Traffic(None, None)
    return Traffic(routed, sum(int(count) for count in counts))


def routed_rate(before: Traffic, after: Traffic, seconds: float) -> float | None:
    """Entries routed per second between two readings (``None`` when unknown)."""
    if before.routed_total is None or after.routed_total is None or seconds <= 0:
        return None
    return max(0, after.routed_total - before.routed_total) / seconds


def _status(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_status_loop(settings, args))


async def _status_loop(settings: Settings, args: argparse.Namespace) -> int:
    store = await open_store(settings)
    broker = open_broker(settings)
    interval = args.watch or RATE_SAMPLE_SECONDS
    try:
        before = await read_traffic(broker)
        while True:
            await asyncio.sleep(interval)  # the window routed/s is measured over
            after = await read_traffic(broker)
            report = status_report(
                await store.lag(), datetime.now(UTC), after, routed_rate(before, after, interval)
            )
            _print_status(report, as_json=args.json)
            exceeded = args.max_lag is not None and report["lag_seconds"] > args.max_lag
            if args.watch is None:
                return LAG_EXCEEDED if exceeded else 0
            before = after
    finally:
        await broker.close()
        await store.close()


def _print_status(report: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report), flush=True)
        return
    unknown = "?"
    rate = report["routed_per_second"]
    connections = report["connections"]
    print(
        f"pending {report['pending']}  lag {report['lag_seconds']:.3f}s  dead {report['dead']}"
        f"  routed/s {unknown if rate is None else rate}"
        f"  connections {unknown if connections is None else connections}",
        flush=True,
    )


def _dead_list(settings: Settings, args: argparse.Namespace) -> int:
    async def run(store: OutboxStore) -> int:
        for record in await store.list_dead(args.limit):
            row = {
                "id": record.id,
                "event": record.event,
                "attempts": record.attempts,
                "created_at": record.created_at.isoformat(),
                "last_error": record.last_error,
            }
            if args.json:
                print(json.dumps(row))
            else:
                print("\t".join(str(value) for value in row.values()))
        return 0

    return asyncio.run(_with_store(settings, run))


def _dead_retry(settings: Settings, args: argparse.Namespace) -> int:
    async def run(store: OutboxStore) -> int:
        ids = None if args.all else list(args.ids)
        count = await store.requeue_dead(ids, datetime.now(UTC))
        print(f"re-queued {count} record(s)")
        return 0 if args.all or count == len(args.ids) else 1

    return asyncio.run(_with_store(settings, run))


async def _with_store(settings: Settings, run: Any) -> int:
    store = await open_store(settings)
    try:
        result: int = await run(store)
        return result
    finally:
        await store.close()
