"""Open the store the settings name: MongoDB when a URL is set, else the embedded store."""

from outbox.store import OutboxStore
from tidings.settings import Settings


async def open_store(settings: Settings) -> OutboxStore:
    """Connect to the configured store; its schema must already be migrated.

    Raises ``ConfigurationError`` when the schema is behind or MongoDB cannot run
    transactions, and ``StoreUnavailable`` when the store does not answer.
    """
    if settings.mongodb_url is not None:
        from outbox.mongo_store import MongoStore

        store = await MongoStore.connect(
            settings.mongodb_url.get_secret_value(), settings.mongodb_database
        )
        try:
            await store.check_schema()
        except BaseException:
            await store.close()
            raise
        return store
    from outbox.sqlite_store import SqliteStore

    return await SqliteStore.open(settings.sqlite_path)
