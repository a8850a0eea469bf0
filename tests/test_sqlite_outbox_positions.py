"""The embedded store's outbox from schema version 4: pending records only, plain positions.

Dead records live in a table of their own and keep their positions; a position is one more
than the highest in either table (``migrations/sqlite/v4_outbox_holds_pending_only.py``).
These tests cover what the contract suite cannot see: the migration from version 3, positions
once the outbox has emptied, the trigger that keeps a dead id's insert a no-op, and records
that code before version 4 made dead in the outbox itself.
"""

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from foundation.constants import DEAD, OUTBOX, OUTBOX_DEAD, PENDING
from foundation.errors import StoreError
from migrations.sqlite import CREATE_MIGRATIONS_TABLE, SQLITE_MIGRATIONS
from outbox.records import LagFigures, OutboxRecord, Route, Users, new_record_id
from outbox.stores.sqlite.connection import connect
from outbox.stores.sqlite.host import insert_outbox_records
from outbox.stores.sqlite.rows import RECORD_COLUMNS, record_row
from outbox.stores.sqlite.schema import _apply_one, apply_sqlite, sqlite_schema_version
from outbox.stores.sqlite.store import SqliteStore

T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
LEASE = 30.0
W = "worker"


def record(n: int) -> OutboxRecord:
    record_id = new_record_id()
    return OutboxRecord(
        id=record_id,
        notification_id=record_id,
        event="thing_happened",
        data={"n": n},
        audience=Users((f"user{n}",)),
        created_at=T0 + timedelta(seconds=n),
        collapse_key=f"k{n}" if n % 2 else None,
    )


def ids(records: list[OutboxRecord]) -> list[str]:
    return [r.id for r in records]


def positions(path: Path, table: str) -> list[tuple[int, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT position, id FROM {table} ORDER BY position").fetchall()
    finally:
        conn.close()


@pytest.fixture
async def store(sqlite_path: Path) -> AsyncIterator[SqliteStore]:
    apply_sqlite(sqlite_path)
    opened = await SqliteStore.open(sqlite_path)
    yield opened
    await opened.close()


async def route(store: SqliteStore, records: list[OutboxRecord], now: datetime = T0) -> None:
    await store.claim_batch(W, now, LEASE, 0)
    await store.append_routes(W, now, [Route(r, ("alice",)) for r in records])


async def kill(store: SqliteStore, record: OutboxRecord, error: str = "boom") -> None:
    await store.claim_batch(W, T0, LEASE, 0)
    await store.record_failure(W, T0, record.id, error, None)


# --- the migration from version 3 --------------------------------------------------------


def version_3_file(path: Path) -> tuple[list[OutboxRecord], dict[str, int]]:
    """A file at version 3 holding six records as its code leaves them, and their positions:
    1 and 4 dead after attempts, 2 waiting for a retry, 5 routed (deleted, so AUTOINCREMENT's
    counter stays above every position left), 0 and 3 pending."""
    conn = connect(path, create=True)
    conn.execute(CREATE_MIGRATIONS_TABLE)
    for migration in SQLITE_MIGRATIONS[:3]:
        _apply_one(conn, migration)
    records = [record(n) for n in range(6)]
    marks = ", ".join("?" * (RECORD_COLUMNS.count(",") + 1))
    conn.executemany(
        f"INSERT INTO {OUTBOX} ({RECORD_COLUMNS}) VALUES ({marks})",
        [record_row(r) for r in records],
    )
    conn.execute(
        f"UPDATE {OUTBOX} SET status = 'dead', attempts = 8, last_error = 'no resolver' "
        "WHERE id IN (?, ?)",
        (records[1].id, records[4].id),
    )
    conn.execute(
        f"UPDATE {OUTBOX} SET attempts = 1, last_error = 'slow', next_attempt_at = ? WHERE id = ?",
        (int((T0 + timedelta(hours=1)).timestamp() * 1_000_000), records[2].id),
    )
    conn.execute(f"DELETE FROM {OUTBOX} WHERE id = ?", (records[5].id,))
    held = {i: p for p, i in conn.execute(f"SELECT position, id FROM {OUTBOX}")}
    conn.close()
    return records, held


def test_version_4_carries_pending_records_in_order_and_moves_the_dead(
    sqlite_path: Path,
) -> None:
    records, held = version_3_file(sqlite_path)

    assert apply_sqlite(sqlite_path) == [4]

    assert positions(sqlite_path, OUTBOX) == [
        (held[records[n].id], records[n].id) for n in (0, 2, 3)
    ]
    assert positions(sqlite_path, OUTBOX_DEAD) == [
        (held[records[n].id], records[n].id) for n in (1, 4)
    ]


def test_a_version_4_failing_part_way_leaves_version_3_as_it_was(sqlite_path: Path) -> None:
    version_3_file(sqlite_path)
    conn = sqlite3.connect(sqlite_path)
    conn.execute(f"CREATE TABLE {OUTBOX_DEAD} (x INTEGER)")  # fails v4 after its rename
    conn.commit()
    before = conn.execute(f"SELECT * FROM {OUTBOX} ORDER BY position").fetchall()
    conn.close()

    with pytest.raises(StoreError, match="already exists"):
        apply_sqlite(sqlite_path)

    conn = sqlite3.connect(sqlite_path)
    try:
        assert sqlite_schema_version(conn) == 3
        assert conn.execute(f"SELECT * FROM {OUTBOX} ORDER BY position").fetchall() == before
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert f"{OUTBOX}_claim" in tables and f"{OUTBOX}_v3" not in tables
    finally:
        conn.close()


async def test_after_version_4_the_store_reads_what_version_3_left(sqlite_path: Path) -> None:
    version_3_file(sqlite_path)
    apply_sqlite(sqlite_path)
    store = await SqliteStore.open(sqlite_path)
    try:
        later = record(9)
        await store.add_records([later])

        claimed = await store.claim_batch(W, T0 + timedelta(hours=2), LEASE, 10)
        dead = await store.list_dead(10)
        figures = await store.lag()
        assert [r.data["n"] for r in claimed] == [0, 2, 3, 9]
        assert (claimed[1].attempts, claimed[1].last_error) == (1, "slow")
        assert claimed[1].collapse_key is None and claimed[3].collapse_key == "k9"
        assert [(r.data["n"], r.status, r.attempts, r.last_error) for r in dead] == [
            (1, DEAD, 8, "no resolver"),
            (4, DEAD, 8, "no resolver"),
        ]
        assert dead[0].collapse_key == "k1" and dead[0].audience == Users(("user1",))
        assert figures == LagFigures(pending=4, dead=2, oldest_pending_at=T0)

        assert await store.requeue_dead([dead[1].id], T0) == 1  # n=4: before 9, after 3
        again = await store.claim_batch(W, T0 + timedelta(hours=2), LEASE, 10)
        assert [r.data["n"] for r in again] == [0, 2, 3, 4, 9]
        assert (again[3].status, again[3].attempts, again[3].next_attempt_at) == (PENDING, 0, None)
        assert again[3].last_error == "no resolver"
    finally:
        await store.close()


# --- positions -------------------------------------------------------------------------------


async def test_positions_restart_once_the_outbox_is_empty_and_keep_commit_order(
    store: SqliteStore, sqlite_path: Path
) -> None:
    first = [record(n) for n in range(3)]
    await store.add_records(first)
    await route(store, first)
    assert positions(sqlite_path, OUTBOX) == []

    second = [record(n) for n in range(3, 6)]
    for r in second:
        await store.add_records([r])

    assert positions(sqlite_path, OUTBOX) == [(n, r.id) for n, r in enumerate(second, 1)]
    assert ids(await store.claim_batch(W, T0, LEASE, 10)) == ids(second)


async def test_new_positions_stay_above_the_dead_ones_after_the_outbox_empties(
    store: SqliteStore, sqlite_path: Path
) -> None:
    early, doomed, late = record(0), record(1), record(2)
    await store.add_records([early, doomed, late])
    await kill(store, doomed)
    await route(store, [early, late])
    assert positions(sqlite_path, OUTBOX) == []

    newer = [record(3), record(4)]
    await store.add_records(newer)

    assert positions(sqlite_path, OUTBOX_DEAD) == [(2, doomed.id)]
    assert positions(sqlite_path, OUTBOX) == [(3, newer[0].id), (4, newer[1].id)]
    # Re-queued, the dead record takes its own position back: before the records added
    # after it, as when re-queueing only flipped its status.
    assert await store.requeue_dead(None, T0) == 1
    assert positions(sqlite_path, OUTBOX)[0] == (2, doomed.id)
    assert ids(await store.claim_batch(W, T0, LEASE, 10)) == [doomed.id, *ids(newer)]


async def test_the_claim_steps_over_records_not_due(store: SqliteStore) -> None:
    waiting, *due = [record(n) for n in range(4)]
    await store.add_records([waiting, *due])
    await store.claim_batch(W, T0, LEASE, 0)
    await store.record_failure(W, T0, waiting.id, "slow", T0 + timedelta(seconds=60))

    assert ids(await store.claim_batch(W, T0, LEASE, 2)) == ids(due[:2])
    await route(store, due[:2])
    assert ids(await store.claim_batch(W, T0, LEASE, 10)) == ids(due[2:])
    assert ids(await store.claim_batch(W, T0 + timedelta(seconds=60), LEASE, 10)) == [
        waiting.id,
        due[2].id,
    ]


# --- adding a record again --------------------------------------------------------------------


async def test_adding_a_dead_record_again_is_a_no_op(store: SqliteStore, sqlite_path: Path) -> None:
    doomed = record(0)
    await store.add_records([doomed])
    await kill(store, doomed)

    await store.add_records([doomed])
    conn = sqlite3.connect(sqlite_path)
    try:
        insert_outbox_records(conn, [doomed, record(1)])
        conn.commit()
    finally:
        conn.close()

    assert [r.data["n"] for r in await store.claim_batch(W, T0, LEASE, 10)] == [1]
    assert ids(await store.list_dead(10)) == [doomed.id]
    assert await store.lag() == LagFigures(
        pending=1, dead=1, oldest_pending_at=T0 + timedelta(seconds=1)
    )


# --- records made dead in the outbox by code before version 4 ------------------------------


def old_code_kills(path: Path, record_id: str) -> None:
    """What ``record_failure`` of version 3 does to a record it gives up on."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            f"UPDATE {OUTBOX} SET attempts = attempts + 1, last_error = 'old', status = 'dead', "
            "next_attempt_at = NULL WHERE id = ?",
            (record_id,),
        )
        conn.commit()
    finally:
        conn.close()


def old_code_adds(path: Path, added: OutboxRecord) -> None:
    """What the emit of version 3 does: the next rowid of the outbox alone."""
    conn = sqlite3.connect(path)
    try:
        marks = ", ".join("?" * (RECORD_COLUMNS.count(",") + 1))
        conn.execute(f"INSERT INTO {OUTBOX} ({RECORD_COLUMNS}) VALUES ({marks})", record_row(added))
        conn.commit()
    finally:
        conn.close()


async def test_a_record_made_dead_in_the_outbox_is_never_claimed_but_listed_and_requeued(
    store: SqliteStore, sqlite_path: Path
) -> None:
    a, b, c = record(0), record(1), record(2)
    await store.add_records([a, b, c])
    await kill(store, a)
    old_code_kills(sqlite_path, b.id)

    assert ids(await store.claim_batch(W, T0, LEASE, 10)) == [c.id]
    assert ids(await store.list_dead(10)) == [a.id, b.id]
    assert ids(await store.list_dead(1)) == [a.id]
    assert await store.lag() == LagFigures(pending=1, dead=2, oldest_pending_at=c.created_at)

    assert await store.requeue_dead([b.id], T0) == 1
    assert ids(await store.claim_batch(W, T0, LEASE, 10)) == [b.id, c.id]
    assert await store.requeue_dead(None, T0) == 1
    assert ids(await store.claim_batch(W, T0, LEASE, 10)) == [a.id, b.id, c.id]


async def old_code_takes_a_dead_position(
    store: SqliteStore, path: Path
) -> tuple[OutboxRecord, OutboxRecord, OutboxRecord]:
    """``early`` pending at 1, ``doomed`` dead at 2, and ``intruder`` added at 2 again by code
    of version 3 (the next rowid of the outbox alone)."""
    early, doomed, late = record(0), record(1), record(2)
    await store.add_records([early, doomed, late])
    await kill(store, doomed)
    await route(store, [late])
    intruder = record(3)
    old_code_adds(path, intruder)
    assert positions(path, OUTBOX) == [(1, early.id), (2, intruder.id)]
    assert positions(path, OUTBOX_DEAD) == [(2, doomed.id)]
    return early, doomed, intruder


async def test_a_requeued_record_whose_position_is_taken_gets_a_fresh_one(
    store: SqliteStore, sqlite_path: Path
) -> None:
    early, doomed, intruder = await old_code_takes_a_dead_position(store, sqlite_path)

    assert await store.requeue_dead(None, T0) == 1

    assert positions(sqlite_path, OUTBOX) == [(1, early.id), (2, intruder.id), (3, doomed.id)]
    assert positions(sqlite_path, OUTBOX_DEAD) == []


async def test_a_dying_record_whose_position_is_taken_gets_a_fresh_one(
    store: SqliteStore, sqlite_path: Path
) -> None:
    early, doomed, intruder = await old_code_takes_a_dead_position(store, sqlite_path)

    await kill(store, intruder, "late")

    assert positions(sqlite_path, OUTBOX) == [(1, early.id)]
    assert positions(sqlite_path, OUTBOX_DEAD) == [(2, doomed.id), (3, intruder.id)]
    dead = await store.list_dead(10)
    assert [(r.id, r.attempts, r.last_error) for r in dead] == [
        (doomed.id, 1, "boom"),
        (intruder.id, 1, "late"),
    ]
