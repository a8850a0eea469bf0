"""Choose the application's storage adapter from the store tidings is configured with.

The application keeps its data where tidings keeps the outbox, so that one transaction holds
both: in the SQLite file of the embedded store, or on the same MongoDB replica set.
"""

import os
from typing import Final

from examples.second_brain.ports import Repository
from tidings import Tidings

APP_DATABASE_VARIABLE: Final = "SECOND_BRAIN_DATABASE"


def app_database() -> str:
    """The MongoDB database of the application's collections (``SECOND_BRAIN_DATABASE``)."""
    from examples.second_brain.mongo_repo import DEFAULT_APP_DATABASE

    return os.environ.get(APP_DATABASE_VARIABLE) or DEFAULT_APP_DATABASE


def open_repository(notifications: Tidings) -> Repository:
    """The repository on ``notifications``' store: MongoDB, or the embedded SQLite file.

    It runs its transactions on a connection of its own to that store
    (``notifications.connect()``) and emits with ``notifications``. The SQLite file must
    already be migrated (``tidings migrate``); the application's own tables are created when
    missing. A MongoDB client connects on first use.
    """
    if notifications.settings.uses_mongodb:
        from examples.second_brain.mongo_repo import MongoRepository

        return MongoRepository.open(notifications, app_database=app_database())
    from examples.second_brain.sqlite_repo import SqliteRepository

    return SqliteRepository.open(notifications)
