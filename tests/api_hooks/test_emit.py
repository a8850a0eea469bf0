"""G1: a notification exists if and only if the caller's transaction committed.

Run on the embedded store with the caller's sqlite3 connection, and on MongoDB with both a
PyMongo async session and a Motor session (one operation at a time: see mongo_server.py).
"""

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from api_hooks import EmitRefused, Emitter, NotInTransaction, Users, run_in_transaction
from foundation.constants import OUTBOX
from foundation.errors import ConfigurationError
from foundation.settings import load_settings
from outbox.stores.sqlite.schema import apply_sqlite
from tests.mongo_server import MongoEndpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Motor is deprecated


class Boom(Exception):
    pass


# --- SQLite: the caller's own connection -------------------------------------------------


@pytest.fixture
def host_db(sqlite_path: Path) -> Iterator[sqlite3.Connection]:
    apply_sqlite(sqlite_path)
    conn = sqlite3.connect(sqlite_path, isolation_level=None)
    conn.execute("CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER)")
    conn.execute("INSERT INTO accounts VALUES ('alice', 100), ('bob', 0)")
    yield conn
    conn.close()


def outbox_rows(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return conn.execute(f"SELECT event, notification_id FROM {OUTBOX}").fetchall()


async def transfer(conn: sqlite3.Connection, emitter: Emitter, amount: int) -> None:
    conn.execute("UPDATE accounts SET balance = balance - ? WHERE name = 'alice'", (amount,))
    conn.execute("UPDATE accounts SET balance = balance + ? WHERE name = 'bob'", (amount,))
    await emitter.emit(conn, "sbd_tokens_sent", {"amount": amount}, to=Users(("alice",)))
    await emitter.emit(conn, "sbd_tokens_received", {"amount": amount}, to=Users(("bob",)))


async def test_sqlite_commit_emits_and_rollback_emits_nothing(
    host_db: sqlite3.Connection,
) -> None:
    emitter = Emitter()

    async def fails(conn: sqlite3.Connection) -> None:
        await transfer(conn, emitter, 30)
        raise Boom

    with pytest.raises(Boom):
        await run_in_transaction(host_db, fails)
    assert outbox_rows(host_db) == []
    assert host_db.execute("SELECT balance FROM accounts ORDER BY name").fetchall() == [
        (100,),
        (0,),
    ]

    await run_in_transaction(host_db, lambda conn: transfer(conn, emitter, 30))
    assert sorted(event for event, _ in outbox_rows(host_db)) == [
        "sbd_tokens_received",
        "sbd_tokens_sent",
    ]
    assert host_db.execute("SELECT balance FROM accounts ORDER BY name").fetchall() == [
        (70,),
        (30,),
    ]


async def test_sqlite_refuses_autocommit_connection(host_db: sqlite3.Connection) -> None:
    with pytest.raises(NotInTransaction):
        await Emitter().emit(host_db, "profile_updated", {}, to=Users(("bob",)))
    assert outbox_rows(host_db) == []


async def test_sqlite_refused_emit_writes_nothing(host_db: sqlite3.Connection) -> None:
    async def bad_then_good(conn: sqlite3.Connection) -> None:
        with pytest.raises(EmitRefused):
            await Emitter().emit(conn, "Bad Name", {}, to=Users(("bob",)))
        with pytest.raises(EmitRefused):
            await Emitter().emit(conn, "ok", {}, to=Users(()))

    await run_in_transaction(host_db, bad_then_good)
    assert outbox_rows(host_db) == []


async def test_sqlite_helper_retries_a_busy_database(
    host_db: sqlite3.Connection, sqlite_path: Path
) -> None:
    calls = 0

    async def contended(conn: sqlite3.Connection) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            # A real SQLITE_BUSY: another connection cannot get the write lock we hold.
            other = sqlite3.connect(sqlite_path, isolation_level=None, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
        await Emitter().emit(conn, "profile_updated", {"n": calls}, to=Users(("bob",)))

    await run_in_transaction(host_db, contended)
    assert calls == 2
    assert len(outbox_rows(host_db)) == 1


async def test_sqlite_dedup_key_repeats_write_one_notification_id(
    host_db: sqlite3.Connection,
) -> None:
    async def twice(conn: sqlite3.Connection) -> None:
        for _ in range(2):
            await Emitter().emit(conn, "x", {}, to=Users(("bob",)), dedup_key="k-1")

    await run_in_transaction(host_db, twice)
    assert len({nid for _, nid in outbox_rows(host_db)}) == 1


# --- MongoDB: PyMongo async and Motor sessions -------------------------------------------


@pytest.fixture(params=["pymongo", "motor"])
async def mongo_client(
    request: pytest.FixtureRequest, mongo: MongoEndpoint, mongo_database: str
) -> AsyncIterator[Any]:
    if request.param == "pymongo":
        client: Any = AsyncMongoClient(mongo.url, tz_aware=True)
    else:
        client = AsyncIOMotorClient(mongo.url, tz_aware=True)
    await client[mongo_database].accounts.insert_many(
        [{"_id": "alice", "balance": 100}, {"_id": "bob", "balance": 0}]
    )
    yield client
    await client.drop_database(mongo_database)
    close = client.close()
    if close is not None:
        await close


def emitter_for(database: str) -> Emitter:
    """An emitter whose settings name ``database``, as the worker's would."""
    return Emitter(load_settings(mongodb_database=database))


async def mongo_transfer(session: Any, database: str, amount: int) -> None:
    accounts = session.client[database].accounts
    await accounts.update_one({"_id": "alice"}, {"$inc": {"balance": -amount}}, session=session)
    await accounts.update_one({"_id": "bob"}, {"$inc": {"balance": amount}}, session=session)
    emitter = emitter_for(database)
    await emitter.emit(session, "sbd_tokens_sent", {"amount": amount}, to=Users(("alice",)))
    await emitter.emit(session, "sbd_tokens_received", {"amount": amount}, to=Users(("bob",)))


@pytest.mark.mongo
async def test_mongo_commit_emits_and_abort_emits_nothing(
    mongo_client: Any, mongo_database: str
) -> None:
    db = mongo_client[mongo_database]

    async def fails(session: Any) -> None:
        await mongo_transfer(session, mongo_database, 30)
        raise Boom

    with pytest.raises(Boom):
        await run_in_transaction(mongo_client, fails)
    assert await db[OUTBOX].count_documents({}) == 0
    assert (await db.accounts.find_one({"_id": "bob"}))["balance"] == 0

    await run_in_transaction(mongo_client, lambda s: mongo_transfer(s, mongo_database, 30))
    events = sorted([doc["event"] async for doc in db[OUTBOX].find({})])
    assert events == ["sbd_tokens_received", "sbd_tokens_sent"]
    assert (await db.accounts.find_one({"_id": "bob"}))["balance"] == 30


@pytest.mark.mongo
async def test_mongo_refuses_session_outside_transaction(
    mongo_client: Any, mongo_database: str
) -> None:
    session = mongo_client.start_session()
    if not hasattr(session, "in_transaction"):
        session = await session
    async with session:
        with pytest.raises(NotInTransaction):
            await Emitter(load_settings(mongodb_database=mongo_database)).emit(
                session, "x", {}, to=Users(("bob",))
            )
    assert await mongo_client[mongo_database][OUTBOX].count_documents({}) == 0


@pytest.mark.mongo
async def test_mongo_helper_retries_transient_transaction_error(
    mongo_client: Any, mongo_database: str
) -> None:
    calls = 0

    async def flaky(session: Any) -> None:
        nonlocal calls
        calls += 1
        await Emitter(load_settings(mongodb_database=mongo_database)).emit(
            session, "x", {"n": calls}, to=Users(("bob",))
        )
        if calls == 1:
            raise OperationFailure(
                "write conflict", code=112, details={"errorLabels": ["TransientTransactionError"]}
            )

    await run_in_transaction(mongo_client, flaky)
    assert calls == 2
    docs = [doc async for doc in mongo_client[mongo_database][OUTBOX].find({})]
    assert [doc["data"] for doc in docs] == [{"n": 2}]


# --- Retractions and collapse keys (protocol v2) -----------------------------------------


def outbox_kinds(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
    return conn.execute(f"SELECT kind, collapse_key FROM {OUTBOX} ORDER BY position").fetchall()


async def test_sqlite_retract_exists_iff_the_transaction_commits(
    host_db: sqlite3.Connection,
) -> None:
    emitter = Emitter()

    async def cancel_invite(conn: sqlite3.Connection, fail: bool) -> None:
        conn.execute("DELETE FROM accounts WHERE name = 'bob'")
        await emitter.retract(conn, "invite:bob")
        if fail:
            raise Boom

    with pytest.raises(Boom):
        await run_in_transaction(host_db, lambda conn: cancel_invite(conn, True))
    assert outbox_kinds(host_db) == []

    await run_in_transaction(host_db, lambda conn: cancel_invite(conn, False))
    assert outbox_kinds(host_db) == [("retract", "invite:bob")]


async def test_sqlite_collapse_key_is_written_with_the_notification(
    host_db: sqlite3.Connection,
) -> None:
    async def invite(conn: sqlite3.Connection) -> None:
        await Emitter().emit(conn, "invite", {}, to=Users(("bob",)), collapse_key="invite:bob")

    await run_in_transaction(host_db, invite)
    assert outbox_kinds(host_db) == [("notify", "invite:bob")]


@pytest.mark.parametrize("key", ["", "k" * 257, 7])
async def test_bad_collapse_keys_are_refused_before_anything_is_written(
    host_db: sqlite3.Connection, key: Any
) -> None:
    async def bad(conn: sqlite3.Connection) -> None:
        with pytest.raises(EmitRefused) as refused:
            await Emitter().emit(conn, "x", {}, to=Users(("bob",)), collapse_key=key)
        assert refused.value.code == "invalid_collapse_key"
        with pytest.raises(EmitRefused):
            await Emitter().retract(conn, key)

    await run_in_transaction(host_db, bad)
    assert outbox_kinds(host_db) == []


@pytest.mark.mongo
async def test_mongo_retract_exists_iff_the_transaction_commits(
    mongo_client: Any, mongo_database: str
) -> None:
    outbox = mongo_client[mongo_database][OUTBOX]
    emitter = emitter_for(mongo_database)

    async def fails(session: Any) -> None:
        await emitter.retract(session, "invite:bob", to=Users(("bob",)))
        raise Boom

    with pytest.raises(Boom):
        await run_in_transaction(mongo_client, fails)
    assert await outbox.count_documents({}) == 0

    await run_in_transaction(mongo_client, lambda s: emitter.retract(s, "invite:bob"))
    docs = [doc async for doc in outbox.find({})]
    assert [(d["kind"], d["collapse_key"], d["audience"]) for d in docs] == [
        ("retract", "invite:bob", {"kind": "everyone"})
    ]


@pytest.mark.mongo
async def test_an_emitter_for_another_database_than_the_worker_s_is_refused(
    mongo_client: Any, mongo_database: str
) -> None:
    """The worker routes TIDINGS_MONGODB_DATABASE; an outbox anywhere else is never read."""
    settings = load_settings(mongodb_database=mongo_database)
    with pytest.raises(ConfigurationError) as refused:
        Emitter(settings, database="second_brain")
    message = str(refused.value)
    assert "'second_brain'" in message and f"'{mongo_database}'" in message
    assert Emitter(settings, database=mongo_database).database == mongo_database
    for name in (mongo_database, "second_brain"):
        assert await mongo_client[name][OUTBOX].count_documents({}) == 0


async def test_the_public_object_retracts_and_collapses_in_the_host_transaction(
    tmp_path: Path,
) -> None:
    from tidings import Tidings, load_settings

    notifications = Tidings(load_settings(data_dir=tmp_path))
    apply_sqlite(notifications.settings.sqlite_path)
    conn = notifications.connect()
    try:
        conn.execute("BEGIN")
        await notifications.emit(conn, "invite", {}, to=Users(("bob",)), collapse_key="inv:1")
        await notifications.retract(conn, "inv:1", to=Users(("bob",)))
        conn.execute("COMMIT")
        assert outbox_kinds(conn) == [("notify", "inv:1"), ("retract", "inv:1")]
    finally:
        conn.close()
