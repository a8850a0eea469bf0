"""The embedded store when its file cannot be written: the cause and the path, by name."""

import os
import sqlite3
from pathlib import Path

import pytest

from foundation.errors import StoreUnavailable
from outbox.stores.sqlite.connection import connect, probe_write
from outbox.stores.sqlite.files import MIN_FREE_BYTES, mount_reason, space_reason
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from tests.read_only import read_only


def statvfs(
    *, free_blocks: int, available_blocks: int, read_only: bool = False
) -> os.statvfs_result:
    """A file system of 4 KiB blocks as ``os.statvfs`` describes it."""
    flags = os.ST_RDONLY if read_only else 0
    return os.statvfs_result(
        (4096, 4096, 10**6, free_blocks, available_blocks, 0, 0, 0, flags, 255)
    )


@pytest.fixture
def migrated(sqlite_path: Path) -> Path:
    apply_sqlite(sqlite_path)
    return sqlite_path


async def test_a_read_only_store_file_fails_the_write_check_naming_it(migrated: Path) -> None:
    store = await SqliteStore.open(migrated)
    try:
        await store.check_writable()
        with read_only(migrated):
            await store.ping()  # reads still work
            with pytest.raises(StoreUnavailable) as refused:
                await store.check_writable()
        assert str(refused.value) == (
            f"the sqlite store cannot be written: {migrated} is read-only "
            "(its permissions or immutable flag)"
        )
        await store.check_writable()
    finally:
        await store.close()


async def test_a_read_only_data_directory_is_named_at_open(migrated: Path) -> None:
    with read_only(migrated.parent), pytest.raises(StoreUnavailable) as refused:
        await SqliteStore.open(migrated)
    message = str(refused.value)
    assert f"the data directory {migrated.parent} is read-only" in message, message
    assert f"{migrated.name}-wal and {migrated.name}-shm" in message, message
    store = await SqliteStore.open(migrated)  # fixed: it opens
    await store.close()


def test_migrating_into_a_read_only_data_directory_names_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with read_only(data), pytest.raises(StoreUnavailable) as refused:
        apply_sqlite(data / "tidings.sqlite3")
    assert str(refused.value) == (
        f"the sqlite store cannot be written: the data directory {data} is read-only, and "
        "SQLite must create tidings.sqlite3, tidings.sqlite3-wal and tidings.sqlite3-shm in it "
        "(unable to open database file)"
    )


def test_a_connection_that_sqlite_keeps_read_only_fails_the_probe(migrated: Path) -> None:
    conn = connect(migrated, create=False)
    try:
        probe_write(conn)
        conn.execute("PRAGMA query_only = 1")  # what a file read-only when opened leaves
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            probe_write(conn)
        assert not conn.in_transaction
    finally:
        conn.close()


def test_the_probe_writes_nothing_and_never_waits_for_another_writer(migrated: Path) -> None:
    conn = connect(migrated, create=False)
    writer = connect(migrated, create=False)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process is writing
        probe_write(conn)  # returns at once: busy_timeout is 5 s otherwise
        writer.execute("ROLLBACK")
        probe_write(conn)
        assert conn.execute("SELECT COUNT(*) FROM tidings_leases").fetchone() == (0,)
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    finally:
        conn.close()
        writer.close()


def test_a_full_disk_is_named() -> None:
    data = Path("/srv/tidings")
    full = statvfs(free_blocks=10, available_blocks=0)
    assert space_reason(data, full, privileged=False) == (
        "the disk holding /srv/tidings is full (0 bytes free)"
    )
    # Root may still use the blocks kept in reserve, but 10 blocks are not enough either.
    assert space_reason(data, full, privileged=True) == (
        "the disk holding /srv/tidings is full (40960 bytes free)"
    )
    roomy = MIN_FREE_BYTES // 4096
    assert (
        space_reason(data, statvfs(free_blocks=roomy, available_blocks=roomy), privileged=False)
        is None
    )


def test_a_read_only_mount_is_named() -> None:
    data = Path("/srv/tidings")
    assert mount_reason(data, statvfs(free_blocks=1, available_blocks=1, read_only=True)) == (
        "the file system holding /srv/tidings is mounted read-only"
    )
    assert mount_reason(data, statvfs(free_blocks=1, available_blocks=1)) is None
