"""The embedded store and the write lock: waits polled by the store, claims that only read."""

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foundation.errors import StoreUnavailable
from outbox.records import OutboxRecord, Users, new_record_id
from outbox.stores.sqlite.connection import connect, retry_while_locked
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore

T0 = datetime(2031, 5, 17, 8, 30, 15, 123000, tzinfo=UTC)
LEASE = 30.0


def record() -> OutboxRecord:
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=record_id,
        event="family_member_joined",
        data={"n": 1},
        audience=Users(("alice",)),
        created_at=T0,
    )


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    path = tmp_path / "tidings.sqlite3"
    apply_sqlite(path)
    return path


@pytest.fixture
def holder(migrated: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the file, as another process's would be."""
    conn = connect(migrated, create=False)
    yield conn
    conn.close()


def test_a_locked_operation_runs_again_once_the_lock_is_free(
    migrated: Path, holder: sqlite3.Connection
) -> None:
    conn = connect(migrated, create=False, busy_timeout=0)
    attempts = 0

    def write(conn: sqlite3.Connection) -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            holder.execute("ROLLBACK")  # the other writer finishes while this one waits
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("COMMIT")
        return attempts

    holder.execute("BEGIN IMMEDIATE")
    try:
        assert retry_while_locked(write, conn, 5.0) == 3
    finally:
        conn.close()


def test_a_lock_held_beyond_the_timeout_raises_the_drivers_error(
    migrated: Path, holder: sqlite3.Connection
) -> None:
    conn = connect(migrated, create=False, busy_timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            retry_while_locked(lambda c: c.execute("BEGIN IMMEDIATE"), conn, 0.01)
    finally:
        holder.execute("ROLLBACK")
        conn.close()


async def test_the_stores_connection_leaves_lock_waits_to_the_store(migrated: Path) -> None:
    store = await SqliteStore.open(migrated)
    try:
        busy = await store._run(lambda conn: conn.execute("PRAGMA busy_timeout").fetchone())
        assert busy == (0,)
    finally:
        await store.close()


async def test_a_claim_under_a_fresh_lease_only_reads(
    migrated: Path, holder: sqlite3.Connection
) -> None:
    store = await SqliteStore.open(migrated, busy_timeout=0.05)
    try:
        pending = record()
        await store.add_records([pending])
        assert await store.claim_batch("a", T0, LEASE, 10) == [pending]
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock from now on

        # More than half the lease left: the claim reads, and waits for no one.
        assert await store.claim_batch("a", T0 + timedelta(seconds=10), LEASE, 10) == [pending]
        # Less than half: it renews the lease, which needs the lock.
        with pytest.raises(StoreUnavailable):
            await store.claim_batch("a", T0 + timedelta(seconds=20), LEASE, 10)
        # Another owner never reads under a lease it does not hold.
        with pytest.raises(StoreUnavailable):
            await store.claim_batch("b", T0 + timedelta(seconds=40), LEASE, 10)
        holder.execute("ROLLBACK")
        assert await store.claim_batch("a", T0 + timedelta(seconds=20), LEASE, 10) == [pending]
        assert await store.claim_batch("b", T0 + timedelta(seconds=40), LEASE, 10) == []
    finally:
        await store.close()
