"""The ``tidings`` command: migrate, worker, serve, status and dead-record tooling.

Every command reads settings from ``TIDINGS_*`` variables once; invalid settings print a
message naming the variable and exit with status 2.
"""

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from broker import in_one_process
from foundation.errors import ConfigurationError, StoreError
from foundation.logs import configure_logging
from foundation.settings import Settings, load_settings

Handler = Callable[[Settings, argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings)
        handler: Handler = args.handler
        return handler(settings, args)
    except ConfigurationError as error:
        print(f"tidings: {error}", file=sys.stderr)
        return 2
    except StoreError as error:
        print(f"tidings: store error: {error}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (also used to check deployment files)."""
    parser = argparse.ArgumentParser(prog="tidings", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="apply the store's schema migrations")
    migrate.set_defaults(handler=_migrate)

    worker = commands.add_parser("worker", help="route outbox records to inboxes")
    worker.add_argument("--burst", action="store_true", help="stop when nothing is pending")
    worker.add_argument(
        "--check", action="store_true", help="exit 0 if a worker is alive (arq health check)"
    )
    worker.set_defaults(handler=_worker)

    serve = commands.add_parser("serve", help="run the WebSocket and REST service")
    serve.set_defaults(handler=_serve)

    run = commands.add_parser("run", help="migrate, then serve and route in one process")
    run.set_defaults(handler=_run)

    from tidings.operator_commands import add_operation_commands

    add_operation_commands(commands)
    return parser


def run_async(coroutine: Coroutine[Any, Any, int]) -> int:
    """Run one command's coroutine to completion."""
    return asyncio.run(coroutine)


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from outbox.stores import migrate

    applied = run_async(migrate(settings))
    print(f"applied {applied} migration(s)" if applied else "schema is up to date")
    return 0


def _needs_redis(settings: Settings, command: str) -> None:
    """Refuse ``memory://`` for a command that runs as a process of its own."""
    if in_one_process(settings):
        raise ConfigurationError(
            f"TIDINGS_REDIS_URL=memory:// keeps signals inside one process, and `tidings "
            f"{command}` runs as a process of its own beside the others: give it Redis, or run "
            "everything in one process with `tidings run` (or Tidings(worker=True))"
        )


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from outbox.worker.arq_jobs import check_health
    from outbox.worker.process import run_worker

    _needs_redis(settings, "worker")
    if args.check:
        return check_health(settings)
    run_worker(settings, burst=args.burst)
    return 0


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    from delivery.serve import serve

    _needs_redis(settings, "serve")
    serve(settings)
    return 0


def _run(settings: Settings, _args: argparse.Namespace) -> int:
    from tidings.run import run_all

    asyncio.run(run_all(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
