"""Apply the configured store's migrations (``tidings migrate``)."""

from tidings.settings import Settings


async def apply_configured(settings: Settings) -> int:
    """Apply every missing migration to the configured store; return how many ran."""
    if settings.mongodb_url is None:
        from migrations.sqlite import apply_sqlite

        return len(apply_sqlite(settings.sqlite_path))
    from migrations.mongo import apply_mongo
    from outbox.mongo_store import MongoStore

    store = await MongoStore.connect(
        settings.mongodb_url.get_secret_value(), settings.mongodb_database
    )
    try:
        return len(await apply_mongo(store.database, retention_seconds=settings.retention_seconds))
    finally:
        await store.close()
