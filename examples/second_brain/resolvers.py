"""The ``family`` group resolver the routing worker loads.

Name it in the worker's settings: ``TIDINGS_RESOLVERS=examples.second_brain.resolvers:resolvers``.
The worker calls :func:`resolvers` once at startup; it reads the same ``TIDINGS_*`` variables
as the worker, so it finds the family data where the worker finds the outbox.
"""

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Final

from examples.second_brain.domain import Repository
from foundation.settings import Settings, load_settings
from outbox.resolvers import GroupResolver, Resolvers
from outbox.stores.sqlite import connect

RESOLVERS_PATH: Final = "examples.second_brain.resolvers:resolvers"


def family_resolvers(members: GroupResolver) -> Resolvers:
    """Resolvers with ``Group("family", id)`` answered by ``members(id)``."""
    found = Resolvers()
    found.register("family", members)
    return found


def sqlite_family_members(path: Path) -> GroupResolver:
    """Family members read from the SQLite file, on a connection of each call's own."""

    def read(family_id: str) -> list[str]:
        from examples.second_brain.sqlite_repo import family_usernames

        conn: sqlite3.Connection
        with closing(connect(path)) as conn:
            return family_usernames(conn, family_id)

    async def members(family_id: str) -> list[str]:
        return read(family_id)

    return members


def repository_family_members(repository: Repository) -> GroupResolver:
    """Family members read through an open repository."""
    return repository.family_usernames


def resolvers_for(settings: Settings) -> Resolvers:
    """The application's resolvers for the store ``settings`` name."""
    if settings.mongodb_url is None:
        return family_resolvers(sqlite_family_members(settings.sqlite_path))
    from examples.second_brain.repository import open_repository

    # The worker keeps this client for its lifetime; it connects on first use.
    return family_resolvers(repository_family_members(open_repository(settings)))


def resolvers() -> Resolvers:
    """What ``TIDINGS_RESOLVERS`` names: resolvers built from the ``TIDINGS_*`` variables.

    Only the store settings matter here, so the JWT secret is not read.
    """
    return resolvers_for(load_settings(jwt_secret=None))
