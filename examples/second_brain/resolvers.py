"""The group resolvers the routing worker loads for the example app.

A ``tidings worker`` of its own finds them in its settings:
``TIDINGS_RESOLVERS=examples.second_brain.resolvers:resolvers``. The worker calls
:func:`resolvers` once at startup; it reads the same ``TIDINGS_*`` variables as the worker, so
it finds the family data where the worker finds the outbox. A worker in the app's process
(``create_app(settings, worker=True)``) gets them from ``Tidings(resolvers=...)``.

Kinds (each resolved when the worker routes, so from what the emitting transaction committed):

- ``family``: the family's members;
- ``family_admins``: the family's admins;
- ``invitation_admins`` (by invitation id): the inviter, then the family's other admins.
"""

import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Final, Protocol

from examples.second_brain import sqlite_schema
from tidings import Resolvers, Settings, Tidings, load_settings

RESOLVERS_PATH: Final = "examples.second_brain.resolvers:resolvers"


class GroupSource(Protocol):
    """Where the groups are read: an open repository, or :class:`SqliteGroups`."""

    async def family_usernames(self, family_id: str) -> list[str]: ...

    async def family_admins(self, family_id: str) -> list[str]: ...

    async def invitation_admins(self, invitation_id: str) -> list[str]: ...


class SqliteGroups:
    """:class:`GroupSource` on the SQLite file, on a connection of each call's own from
    ``connect`` (``Tidings.connect``)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect

    def _read(self, query: Callable[[sqlite3.Connection, str], list[str]], key: str) -> list[str]:
        with closing(self._connect()) as conn:
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
    """The application's resolvers, reading the store ``settings`` name (on connections of
    their own, from ``Tidings.connect``)."""
    notifications = Tidings(settings)
    if not settings.uses_mongodb:
        return app_resolvers(SqliteGroups(notifications.connect))
    from examples.second_brain.repository import open_repository

    # The worker keeps this client for its lifetime; it connects on first use.
    return app_resolvers(open_repository(notifications))


def resolvers() -> Resolvers:
    """What ``TIDINGS_RESOLVERS`` names: resolvers built from the ``TIDINGS_*`` variables.

    Only the store settings matter here, so the JWT secret is not read.
    """
    return resolvers_for(load_settings(jwt_secret=None))
