"""The group resolvers the routing worker loads for the example app.

Name them in the worker's settings:
``TIDINGS_RESOLVERS=examples.second_brain.resolvers:resolvers``. The worker calls
:func:`resolvers` once at startup; it reads the same ``TIDINGS_*`` variables as the worker, so
it finds the family data where the worker finds the outbox.

Kinds (each resolved when the worker routes, so from what the emitting transaction committed):

- ``family``: the family's members;
- ``family_admins``: the family's admins;
- ``invitation_admins`` (by invitation id): the inviter, then the family's other admins.
"""

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Final, Protocol

from examples.second_brain import sqlite_schema
from foundation.settings import Settings, load_settings
from outbox.resolvers import Resolvers
from outbox.stores.sqlite import connect

RESOLVERS_PATH: Final = "examples.second_brain.resolvers:resolvers"


class GroupSource(Protocol):
    """Where the groups are read: an open repository, or :class:`SqliteGroups`."""

    async def family_usernames(self, family_id: str) -> list[str]: ...

    async def family_admins(self, family_id: str) -> list[str]: ...

    async def invitation_admins(self, invitation_id: str) -> list[str]: ...


class SqliteGroups:
    """:class:`GroupSource` on the SQLite file, on a connection of each call's own."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _read(self, query: Callable[[sqlite3.Connection, str], list[str]], key: str) -> list[str]:
        conn: sqlite3.Connection
        with closing(connect(self._path)) as conn:
            return query(conn, key)

    async def family_usernames(self, family_id: str) -> list[str]:
        return self._read(sqlite_schema.family_usernames, family_id)

    async def family_admins(self, family_id: str) -> list[str]:
        return self._read(sqlite_schema.family_admins, family_id)

    async def invitation_admins(self, invitation_id: str) -> list[str]:
        return self._read(sqlite_schema.invitation_admins, invitation_id)


def app_resolvers(source: GroupSource) -> Resolvers:
    """Resolvers for the three kinds above, answered by ``source``."""
    found = Resolvers()
    found.register("family", source.family_usernames)
    found.register("family_admins", source.family_admins)
    found.register("invitation_admins", source.invitation_admins)
    return found


def resolvers_for(settings: Settings) -> Resolvers:
    """The application's resolvers for the store ``settings`` name."""
    if not settings.uses_mongodb:
        return app_resolvers(SqliteGroups(settings.sqlite_path))
    from examples.second_brain.repository import open_repository

    # The worker keeps this client for its lifetime; it connects on first use.
    return app_resolvers(open_repository(settings))


def resolvers() -> Resolvers:
    """What ``TIDINGS_RESOLVERS`` names: resolvers built from the ``TIDINGS_*`` variables.

    Only the store settings matter here, so the JWT secret is not read.
    """
    return resolvers_for(load_settings(jwt_secret=None))
