"""Choose the application's storage adapter from the tidings settings.

The application keeps its data where tidings keeps the outbox, so that one transaction holds
both: in the SQLite file of the embedded store, or on the same MongoDB replica set.
"""

import os
from typing import Final

from api_hooks import Emitter
from examples.second_brain.ports import Repository
from foundation.settings import Settings

APP_DATABASE_VARIABLE: Final = "SECOND_BRAIN_DATABASE"


def app_database() -> str:
    """The MongoDB database of the application's collections (``SECOND_BRAIN_DATABASE``)."""
    from examples.second_brain.mongo_repo import DEFAULT_APP_DATABASE

    return os.environ.get(APP_DATABASE_VARIABLE) or DEFAULT_APP_DATABASE


def open_repository(settings: Settings) -> Repository:
    """The repository for ``settings``: MongoDB when a URL is set, else the SQLite file.

    The SQLite file must already be migrated (``tidings migrate``); the application's own
    tables are created when missing. A MongoDB client connects on first use.
    """
    if settings.uses_mongodb:
        from examples.second_brain.mongo_repo import MongoRepository

        return MongoRepository.connect(
            settings.resolved_store_url, app_database=app_database(), emitter=Emitter(settings)
        )
    from examples.second_brain.sqlite_repo import SqliteRepository

    return SqliteRepository.open(settings.sqlite_path)
