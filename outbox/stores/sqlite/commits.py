"""Noticing other connections' commits to the embedded store, from the event loop.

``PRAGMA data_version`` answers a number that changes when another connection to the file
has committed since this one last asked; this connection's own commits do not change it, and
this one never writes. Asking costs a few microseconds and, in WAL mode, takes no lock a
writer waits for, so the routing worker can ask every millisecond while records arrive: host
applications on this machine then need not send a wake-up for every commit.
"""

import sqlite3
from pathlib import Path
from typing import Self


class DataVersionWatch:
    """:class:`outbox.port.CommitWatch` on one read-only use of a connection of its own."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._seen = self._version()

    @classmethod
    def open(cls, path: Path) -> Self:
        """Watch the store at ``path``; call it, and everything else, on one thread.

        The connection never waits for a lock (a read that would is answered as a change),
        and sets nothing up: the file is in WAL mode already, the store's connections made
        it so. Raises ``sqlite3.Error`` when the file cannot be opened.
        """
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=0
        )
        return cls(conn)

    def _version(self) -> int | None:
        try:
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return None
        return int(row[0])

    def changed(self) -> bool:
        """Whether another connection committed since the last call (or since opening).

        A version that cannot be read (the file busy being recovered, an I/O error) counts
        as a change: a look that finds nothing costs less than a commit left waiting.
        """
        version = self._version()
        if version is not None and version == self._seen:
            return False
        self._seen = version
        return True

    def close(self) -> None:
        self._conn.close()
