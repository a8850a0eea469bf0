"""Commit notifications to a tidings outbox, as a host transaction would.

Usage: emit.py SQLITE_PATH USER COUNT START EVENT [ORIGIN_SESSION]
Commits COUNT records for USER in one transaction, with data {"i": START + n}.
"""

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from api_hooks import Users, build_record
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore


async def main(
    path: Path, user: str, count: int, start: int, event: str, origin: str | None
) -> None:
    apply_sqlite(path)
    now = datetime.now(UTC)
    records = [
        build_record(
            event=event, data={"i": start + n}, to=Users((user,)), now=now, origin_session=origin
        )
        for n in range(count)
    ]
    store = await SqliteStore.open(path)
    try:
        await store.add_records(records)
    finally:
        await store.close()


if __name__ == "__main__":
    path, user, count, start, event, *origin = sys.argv[1:]
    asyncio.run(
        main(Path(path), user, int(count), int(start), event, origin[0] if origin else None)
    )
