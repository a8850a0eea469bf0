"""The embedded SQLite store: the default, for one machine (``sqlite:///path``).

Everything the store needs is in this folder: the connection helper and error translation
(``connection``), the schema applier (``schema``, over ``migrations/sqlite/``), the store
(``store``, ``transactions``, ``rows``, ``checkpointer``) and the host application's side
(``host``). :data:`ADAPTER` is what ``outbox.stores`` picks for the ``sqlite`` scheme.

A host application that keeps its own tables in the store's file opens its connections with
:func:`connect` and emits with ``Emitter.emit(conn, ...)`` inside ``BEGIN ... COMMIT``.
"""

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final

from foundation.errors import ConfigurationError
from foundation.settings import Settings
from outbox.records import OutboxRecord
from outbox.stores.sqlite import connection, host
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the embedded store's file for the host application's own work.

    In autocommit mode (open transactions with ``BEGIN``), WAL, with the store's busy
    timeout. The file must exist (``tidings migrate`` creates it). Raises ``sqlite3.Error``.
    """
    return connection.connect(path, create=False)


def _path(settings: Settings) -> Path:
    path = settings.sqlite_path
    if not str(path) or str(path) == ".":
        raise ConfigurationError("TIDINGS_STORE_URL: sqlite URLs need a file path")
    return path


class SqliteAdapter:
    """The :class:`outbox.port.StoreAdapter` of the embedded store."""

    name: Final = "sqlite"
    watches_commits: Final = True

    async def open(self, settings: Settings) -> SqliteStore:
        return await SqliteStore.open(_path(settings))

    async def migrate(self, settings: Settings) -> int:
        return len(apply_sqlite(_path(settings)))

    def connect_host(self, settings: Settings) -> sqlite3.Connection:
        return connect(_path(settings))

    def owns_session(self, session: object) -> bool:
        return isinstance(session, sqlite3.Connection)

    async def write_records(
        self, session: Any, records: Sequence[OutboxRecord], *, database: str
    ) -> None:
        host.insert_outbox_records(session, records)

    def owns_client(self, target: object) -> bool:
        return isinstance(target, sqlite3.Connection)

    async def run_in_transaction[T](
        self, target: Any, callback: Callable[[Any], Awaitable[T]], *, deadline_seconds: float
    ) -> T:
        return await host.run_in_transaction(target, callback, deadline_seconds)


ADAPTER: Final = SqliteAdapter()

__all__ = ["ADAPTER", "SqliteStore", "connect"]
