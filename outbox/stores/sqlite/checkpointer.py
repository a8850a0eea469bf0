"""Checkpoints of the embedded store's write-ahead log, off the writers' path.

In WAL mode every commit appends pages to the ``-wal`` file, and a checkpoint copies them back
into the database file. By default SQLite runs that checkpoint inside whichever commit takes
the log past 1,000 pages, so the routing worker's append transaction paid for it (about a
sixth of its time). A :class:`~outbox.stores.sqlite.store.SqliteStore` therefore raises its own
connection's automatic threshold to :data:`SAFETY_NET_PAGES` and runs this checkpointer: a
``PASSIVE`` checkpoint on a second connection, on a thread of its own, at most every
``interval`` seconds while the store writes. A passive checkpoint never takes the write lock
and never waits: writers and readers go on while it copies, and what it could not copy (pages
a reader still needs) the next one copies. Once the whole log is copied, the next writer
starts it again from the beginning, so it stays small.

The raised threshold is only a safety net: if checkpoints stopped succeeding here, the
store's commits would checkpoint in line again once the log passed it, as SQLite does by
default. Connections that are not a store's (the host application's, migrations) keep
SQLite's default; any connection's checkpoint serves every process.
"""

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, NoReturn

from outbox.stores.sqlite.connection import connect

log = logging.getLogger(__name__)

SAFETY_NET_PAGES: Final = 10_000
DEFAULT_INTERVAL_SECONDS: Final = 0.1


class WalCheckpointer:
    """Runs passive checkpoints of one database file after writes, one at a time.

    Call :meth:`wrote` after each committed write; run :meth:`run` as a task; :meth:`close`
    when done. ``checkpoints`` counts the checkpoints that completed.
    """

    def __init__(self, path: Path, *, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-wal")
        self._conn: sqlite3.Connection | None = None
        self._dirty = asyncio.Event()
        self._failing = False
        self.checkpoints = 0

    def wrote(self) -> None:
        """Note that a write committed: a checkpoint follows within ``interval`` seconds."""
        self._dirty.set()

    async def run(self) -> NoReturn:
        """Checkpoint after writes, forever; failures are logged and retried after writes."""
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await loop.run_in_executor(self._executor, self._checkpoint)
            await asyncio.sleep(self._interval)  # pacing: writes meanwhile share one checkpoint

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = connect(self._path, create=False)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            if not self._failing:
                log.warning("sqlite checkpoint failed (%s); retrying after the next write", error)
            self._failing = True
            return
        if self._failing:
            log.info("sqlite checkpoints succeed again")
            self._failing = False
        self.checkpoints += 1

    async def close(self) -> None:
        """Wait for a checkpoint in progress, then close the connection and the thread.

        Cancel the :meth:`run` task first.
        """
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close_connection)
        finally:
            self._executor.shutdown(wait=True)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
