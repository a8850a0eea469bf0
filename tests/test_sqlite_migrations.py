"""The SQLite schema against its declaration, and the embedded adapter's own edges.

The port's behaviour is the contract suite's business (tests/contract); this file covers what
only the SQLite adapter has: versioned migrations, refusing an unmigrated file, the emit
insert on the caller's connection, two processes' stores on one file, and error translation.
"""

import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from foundation.constants import COUNTERS, INBOX, MIGRATIONS, OUTBOX
from foundation.errors import (
    ConfigurationError,
    LeaseLost,
    NotInTransaction,
    StoreError,
    StoreUnavailable,
)
from migrations.sqlite import (
    CREATE_MIGRATIONS_TABLE,
    DECLARED_SQLITE_INDEXES,
    LATEST_SQLITE_VERSION,
    SQLITE_MIGRATIONS,
    IndexSpec,
)
from outbox.records import OutboxRecord, Route, Users, new_record_id
from outbox.stores.sqlite.connection import connect
from outbox.stores.sqlite.host import insert_outbox_records
from outbox.stores.sqlite.schema import _apply_one, apply_sqlite, sqlite_schema_version
from outbox.stores.sqlite.store import SqliteStore
from outbox.timestamps import from_micros, to_micros
from tests.worker import wait_until

T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
LEASE = 30.0


def record(user: str = "alice", seconds: float = 0) -> OutboxRecord:
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=record_id,
        event="family_member_joined",
        data={"n": 1},
        audience=Users((user,)),
        created_at=T0 + timedelta(seconds=seconds),
    )


def actual_indexes(conn: sqlite3.Connection) -> dict[str, IndexSpec]:
    """Every index of every table, automatic ones included, as the declaration spells it."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    found: dict[str, IndexSpec] = {}
    for table in tables:
        for _, name, unique, _origin, partial in conn.execute(f"PRAGMA index_list({table})"):
            columns = tuple(row[2] for row in conn.execute(f"PRAGMA index_info({name})"))
            where = partial_condition(conn, name) if partial else None
            found[name] = IndexSpec(table, columns, bool(unique), where)
    return found


def partial_condition(conn: sqlite3.Connection, name: str) -> str:
    """The ``WHERE`` condition of a partial index, from the statement that created it."""
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return " ".join(sql.partition(" WHERE ")[2].split())


def snapshot(path: Path) -> tuple[object, ...]:
    conn = sqlite3.connect(path)
    try:
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        applied = conn.execute(f"SELECT * FROM {MIGRATIONS} ORDER BY version").fetchall()
        return sorted(master, key=repr), applied, actual_indexes(conn)
    finally:
        conn.close()


def snapshot_tables(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        conn.close()


def count_outbox(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {OUTBOX}").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def migrated(sqlite_path: Path) -> Path:
    apply_sqlite(sqlite_path)
    return sqlite_path


@pytest.fixture
async def opened(migrated: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(migrated)
    yield store
    await store.close()


# --- migrations ----------------------------------------------------------------------------


def test_migration_versions_count_up_from_one() -> None:
    versions = [m.version for m in SQLITE_MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert LATEST_SQLITE_VERSION == versions[-1]


def test_applying_to_an_empty_file_gives_exactly_the_declared_indexes(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "tidings.sqlite3"

    applied = apply_sqlite(path)

    assert applied == [m.version for m in SQLITE_MIGRATIONS]
    conn = sqlite3.connect(path)
    try:
        assert actual_indexes(conn) == DECLARED_SQLITE_INDEXES
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_each_migration_records_itself(migrated: Path) -> None:
    conn = sqlite3.connect(migrated)
    try:
        rows = conn.execute(f"SELECT version, name, applied_at FROM {MIGRATIONS}").fetchall()
        assert [(v, n) for v, n, _ in rows] == [(m.version, m.name) for m in SQLITE_MIGRATIONS]
        assert all(isinstance(applied_at, int) and applied_at > 0 for *_, applied_at in rows)
        assert sqlite_schema_version(conn) == LATEST_SQLITE_VERSION
    finally:
        conn.close()


def test_applying_again_applies_nothing_and_changes_nothing(migrated: Path) -> None:
    before = snapshot(migrated)

    assert apply_sqlite(migrated) == []

    assert snapshot(migrated) == before


def at_version(path: Path, version: int) -> sqlite3.Connection:
    """A connection to a new database migrated up to ``version`` only."""
    conn = connect(path, create=True)
    conn.execute(CREATE_MIGRATIONS_TABLE)
    for migration in SQLITE_MIGRATIONS[:version]:
        _apply_one(conn, migration)
    return conn


def migrate_to(path: Path, version: int) -> list[int]:
    """Apply the versions after the file's own up to ``version``; those applied now."""
    conn = connect(path, create=False)
    try:
        return [m.version for m in SQLITE_MIGRATIONS[:version] if _apply_one(conn, m)]
    finally:
        conn.close()


def test_version_2_removes_the_records_version_1_left_routed(sqlite_path: Path) -> None:
    conn = at_version(sqlite_path, 1)
    try:
        pending, routed, dead = record(), record(), record()
        rows = [
            (r.id, r.id, r.event, "{}", "{}", to_micros(r.created_at))
            for r in (pending, routed, dead)
        ]
        conn.executemany(
            f"INSERT INTO {OUTBOX} (id, notification_id, event, data, audience, created_at, "
            "status) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            rows,
        )
        conn.execute(f"UPDATE {OUTBOX} SET status = 'routed' WHERE id = ?", (routed.id,))
        conn.execute(f"UPDATE {OUTBOX} SET status = 'dead' WHERE id = ?", (dead.id,))
    finally:
        conn.close()

    assert migrate_to(sqlite_path, 2) == [2]

    conn = sqlite3.connect(sqlite_path)
    try:
        rows = conn.execute(f"SELECT id, status FROM {OUTBOX} ORDER BY position").fetchall()
    finally:
        conn.close()
    assert rows == [(pending.id, "pending"), (dead.id, "dead")]


def test_version_3_places_earlier_entries_on_the_stream_and_counts_them(
    sqlite_path: Path,
) -> None:
    conn = at_version(sqlite_path, 2)
    try:
        conn.executemany(
            f"INSERT INTO {INBOX} (user_id, seq, notification_id, routed_at) VALUES (?, ?, ?, 0)",
            [("ann", 2, "n2"), ("ann", 3, "n3"), ("bob", 1, "n1")],  # ann's first one trimmed
        )
        conn.executemany(
            f"INSERT INTO {COUNTERS} (user_id, head) VALUES (?, ?)",
            [("ann", 3), ("bob", 1), ("cy", 4)],
        )
    finally:
        conn.close()

    assert migrate_to(sqlite_path, 3) == [3]

    conn = sqlite3.connect(sqlite_path)
    try:
        entries = conn.execute(
            f"SELECT user_id, seq, pos, unread_after, unarchived_after, is_read, is_archived, "
            f"is_retracted FROM {INBOX} ORDER BY user_id, seq"
        ).fetchall()
        counters = conn.execute(
            f"SELECT user_id, head, pos, unread, unarchived FROM {COUNTERS} ORDER BY user_id"
        ).fetchall()
    finally:
        conn.close()
    assert entries == [
        ("ann", 2, 2, 1, 1, 0, 0, 0),
        ("ann", 3, 3, 2, 2, 0, 0, 0),
        ("bob", 1, 1, 1, 1, 0, 0, 0),
    ]
    assert counters == [("ann", 3, 3, 2, 2), ("bob", 1, 1, 1, 1), ("cy", 4, 4, 0, 0)]


def test_an_empty_database_is_at_version_zero() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        assert sqlite_schema_version(conn) == 0
    finally:
        conn.close()


# --- opening -------------------------------------------------------------------------------


async def test_open_refuses_a_missing_file_and_creates_nothing(sqlite_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="tidings migrate"):
        await SqliteStore.open(sqlite_path)
    assert not sqlite_path.exists()


async def test_open_refuses_an_unmigrated_file(sqlite_path: Path) -> None:
    conn = sqlite3.connect(sqlite_path)
    conn.execute("CREATE TABLE unrelated (x INTEGER)")
    conn.close()

    with pytest.raises(ConfigurationError, match="tidings migrate"):
        await SqliteStore.open(sqlite_path)
    assert snapshot_tables(sqlite_path) == ["unrelated"]


async def test_a_closed_store_refuses_calls(migrated: Path) -> None:
    store = await SqliteStore.open(migrated)
    await store.close()
    await store.close()

    with pytest.raises(StoreError, match="closed"):
        await store.ping()


async def test_a_write_locked_beyond_the_busy_timeout_is_unavailable(migrated: Path) -> None:
    store = await SqliteStore.open(migrated, busy_timeout=0.05)
    holder = sqlite3.connect(migrated, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            await store.add_records([record()])
        holder.execute("ROLLBACK")
        await store.add_records([record()])
        assert count_outbox(migrated) == 1
    finally:
        holder.close()
        await store.close()


def test_times_round_trip_exactly_as_utc() -> None:
    local = T0.astimezone(timezone(timedelta(hours=5)))

    assert from_micros(to_micros(local)) == T0
    assert from_micros(to_micros(T0)).utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="timezone-aware"):
        to_micros(T0.replace(tzinfo=None))


# --- the emit insert on the caller's connection ---------------------------------------------


@pytest.fixture
def caller(migrated: Path) -> Iterator[sqlite3.Connection]:
    """The host application's own connection, in Python's default (legacy) mode."""
    conn = sqlite3.connect(migrated)
    yield conn
    conn.close()


def test_insert_refuses_an_autocommit_connection_and_writes_nothing(migrated: Path) -> None:
    conn = sqlite3.connect(migrated, autocommit=True)
    try:
        with pytest.raises(NotInTransaction):
            insert_outbox_records(conn, [record()])
    finally:
        conn.close()
    assert count_outbox(migrated) == 0


def test_insert_refuses_a_legacy_connection_outside_begin(migrated: Path) -> None:
    conn = sqlite3.connect(migrated, isolation_level=None)
    try:
        with pytest.raises(NotInTransaction):
            insert_outbox_records(conn, [record()])
        conn.execute("BEGIN")
        insert_outbox_records(conn, [record()])
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert count_outbox(migrated) == 1


def test_insert_in_a_rolled_back_transaction_leaves_nothing(
    migrated: Path, caller: sqlite3.Connection
) -> None:
    insert_outbox_records(caller, [record(), record()])
    assert caller.in_transaction

    caller.rollback()

    assert count_outbox(migrated) == 0


def test_insert_in_a_committed_transaction_leaves_the_records(
    migrated: Path, caller: sqlite3.Connection
) -> None:
    insert_outbox_records(caller, [record(), record()])
    assert count_outbox(migrated) == 0, "visible before the caller committed"

    caller.commit()

    assert count_outbox(migrated) == 2


def test_insert_joins_a_pep_249_transaction(migrated: Path) -> None:
    conn = sqlite3.connect(migrated, autocommit=False)
    try:
        insert_outbox_records(conn, [record()])
        conn.rollback()
        insert_outbox_records(conn, [record()])
        conn.commit()
    finally:
        conn.close()
    assert count_outbox(migrated) == 1


async def test_inserted_records_come_back_exactly(
    opened: SqliteStore, caller: sqlite3.Connection
) -> None:
    records = [record("alice"), record("bob", seconds=1)]
    insert_outbox_records(caller, records)
    caller.commit()

    assert await opened.claim_batch("w", T0, LEASE, 10) == records


# --- two stores on one file, as two processes would have ----------------------------------


@pytest.fixture
async def second(migrated: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(migrated)
    yield store
    await store.close()


async def test_two_stores_share_one_lease(opened: SqliteStore, second: SqliteStore) -> None:
    records = [record(), record()]
    await opened.add_records(records)

    assert await opened.claim_batch("a", T0, LEASE, 10) == records
    assert await second.claim_batch("b", T0 + timedelta(seconds=LEASE - 1), LEASE, 10) == []
    expired = T0 + timedelta(seconds=LEASE)
    assert await second.claim_batch("b", expired, LEASE, 10) == records

    with pytest.raises(LeaseLost):
        await opened.append_to_inbox("a", expired, [Route(records[0], ("alice",))])
    assert await second.head("alice") == 0
    entries = await second.append_to_inbox("b", expired, [Route(r, ("alice",)) for r in records])
    assert [e.seq for e in entries] == [1, 2]
    assert await opened.head("alice") == 2


async def test_an_expired_lease_is_lost_even_when_nobody_took_it(opened: SqliteStore) -> None:
    records = [record()]
    await opened.add_records(records)
    assert await opened.claim_batch("a", T0, LEASE, 10) == records
    expiry = T0 + timedelta(seconds=LEASE)

    with pytest.raises(LeaseLost):
        await opened.append_to_inbox("a", expiry, [Route(records[0], ("alice",))])
    assert await opened.head("alice") == 0

    just_before = expiry - timedelta(microseconds=1)
    assert len(await opened.append_to_inbox("a", just_before, [Route(records[0], ("alice",))])) == 1


async def test_routing_deletes_the_routed_records_from_the_outbox(
    opened: SqliteStore, migrated: Path
) -> None:
    routed, waiting = record(), record()
    await opened.add_records([routed, waiting])
    await opened.claim_batch("a", T0, LEASE, 10)

    await opened.append_to_inbox("a", T0, [Route(routed, ("alice",))])

    assert count_outbox(migrated) == 1
    assert await opened.claim_batch("a", T0, LEASE, 10) == [waiting]


def wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_the_log_is_checkpointed_in_the_background_and_stays_small(
    opened: SqliteStore, migrated: Path
) -> None:
    # Writers never checkpoint before the log reaches the safety net (40 MB), so a log kept
    # small by these writes is the background checkpointer's work.
    big = {"text": "x" * 2000}
    batches, per_batch = 20, 100
    for _ in range(batches):
        done = opened.checkpointer.checkpoints
        await opened.add_records([replace(record(), data=big) for _ in range(per_batch)])

        async def checkpointed(done: int = done) -> bool:
            return opened.checkpointer.checkpoints > done

        await wait_until(checkpointed, timeout=10)

    written = batches * per_batch * len(big["text"])
    assert wal_bytes(migrated) < written / 4


async def test_adding_a_record_again_is_a_no_op(opened: SqliteStore, migrated: Path) -> None:
    records = [record(), record()]
    await opened.add_records(records)

    await opened.add_records(records)

    assert count_outbox(migrated) == 2
