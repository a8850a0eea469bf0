"""The example host application's operations on both of its stores, without a browser.

Each operation changes domain data and emits in one transaction: a refused operation leaves
no data change and no outbox record. The family group resolves to the members the same
transaction committed. MongoDB runs one operation at a time (see tests/mongo_server.py).
"""

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from api_hooks import Emitter, Group
from examples.second_brain import operations
from examples.second_brain.app import create_app
from examples.second_brain.demo_data import DEMO_FAMILY, DEMO_USERS, demo_token
from examples.second_brain.domain import DomainError, Repository
from examples.second_brain.resolvers import (
    family_resolvers,
    repository_family_members,
    resolvers_for,
)
from foundation.constants import DEMO_JWT_SECRET, OUTBOX
from foundation.settings import Settings, load_settings
from outbox.records import audience_from_dict
from outbox.stores.sqlite.schema import apply_sqlite
from tests.mongo_server import MongoEndpoint

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Motor, via mongoeco


def _outbox_sqlite(path: Path) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(f"SELECT event, data, audience FROM {OUTBOX} ORDER BY position")
        return [{"event": e, "data": d, "audience": a} for e, d, a in rows.fetchall()]


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    apply_sqlite(settings.sqlite_path)
    return settings


@pytest.fixture
async def sqlite_repo(sqlite_settings: Settings) -> AsyncIterator[Repository]:
    from examples.second_brain.sqlite_repo import SqliteRepository

    repo = SqliteRepository.open(sqlite_settings.sqlite_path)
    await repo.seed(DEMO_USERS, DEMO_FAMILY)
    yield repo
    await repo.close()


async def _balances(repo: Repository) -> dict[str, int]:
    views = [await repo.view(name) for name in await repo.usernames()]
    return {view.user.username: view.user.balance for view in views if view is not None}


async def test_sqlite_transfer_commits_both_balances_and_both_notifications(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    assert await sqlite_repo.run(operations.transfer("alice", "bob", 30)) == {"new_balance": 70}
    balances = await _balances(sqlite_repo)
    assert (balances["alice"], balances["bob"]) == (70, 130)
    records = _outbox_sqlite(sqlite_settings.sqlite_path)
    assert [r["event"] for r in records] == ["sbd_tokens_sent", "sbd_tokens_received"]
    assert '"new_balance":130' in records[1]["data"].replace(" ", "")


async def test_sqlite_refused_transfer_changes_nothing_and_emits_nothing(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(operations.transfer("alice", "bob", 101))
    assert refused.value.code == "insufficient_funds"
    with pytest.raises(DomainError, match="no user"):
        await sqlite_repo.run(operations.transfer("alice", "zoe", 5))
    assert await _balances(sqlite_repo) == {u.username: u.balance for u in DEMO_USERS}
    assert _outbox_sqlite(sqlite_settings.sqlite_path) == []


async def test_sqlite_join_is_resolved_to_every_member_by_the_worker_resolver(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    invited = await sqlite_repo.run(operations.invite("alice", "bob"))
    bob = await sqlite_repo.view("bob")
    assert bob is not None and [i.id for i in bob.invitations] == [invited["invitation_id"]]
    await sqlite_repo.run(operations.accept("bob", str(invited["invitation_id"])))
    records = _outbox_sqlite(sqlite_settings.sqlite_path)
    assert [r["event"] for r in records] == [
        "family_invitation_received",
        "family_invitation_responded",
        "family_member_joined",
    ]
    audience = audience_from_dict(json.loads(records[2]["audience"]))
    assert audience == Group("family", "fam-lovelace")
    members = await resolvers_for(sqlite_settings).resolve(audience)
    assert sorted(members) == ["alice", "bob", "carol"]
    with pytest.raises(DomainError, match="answered"):
        await sqlite_repo.run(operations.accept("bob", str(invited["invitation_id"])))


async def test_sqlite_only_admins_invite(sqlite_repo: Repository) -> None:
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(operations.invite("carol", "dave"))
    assert refused.value.code == "not_family_admin"


async def test_profile_update_carries_the_origin_session(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    await sqlite_repo.run(operations.update_profile("bob", "  Bobby ", "tab-1"))
    view = await sqlite_repo.view("bob")
    assert view is not None and view.user.display_name == "Bobby"
    with closing(sqlite3.connect(sqlite_settings.sqlite_path)) as conn:
        assert conn.execute(f"SELECT event, origin_session FROM {OUTBOX}").fetchall() == [
            ("profile_updated", "tab-1")
        ]


async def test_sqlite_busy_database_answers_503_and_writes_nothing(
    sqlite_settings: Settings,
) -> None:
    from examples.second_brain.sqlite_repo import SqliteRepository

    repo = SqliteRepository.open(sqlite_settings.sqlite_path, deadline_seconds=0.2)
    await repo.seed(DEMO_USERS, DEMO_FAMILY)
    writer = sqlite3.connect(sqlite_settings.sqlite_path, isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(DomainError) as refused:
            await repo.run(operations.transfer("alice", "bob", 5))
        assert (refused.value.status, refused.value.code) == (503, "store_unavailable")
        writer.execute("ROLLBACK")
        assert await repo.run(operations.transfer("alice", "bob", 5)) == {"new_balance": 95}
    finally:
        writer.close()
        await repo.close()
    assert [r["event"] for r in _outbox_sqlite(sqlite_settings.sqlite_path)] == [
        "sbd_tokens_sent",
        "sbd_tokens_received",
    ]


def test_demo_tokens_exist_only_in_demo_mode(tmp_path: Path) -> None:
    demo = Settings(data_dir=tmp_path, jwt_secret=DEMO_JWT_SECRET, demo=True)
    assert demo_token(demo, "alice").count(".") == 2
    plain = Settings(data_dir=tmp_path, jwt_secret="s" * 32)
    with pytest.raises(PermissionError):
        demo_token(plain, "alice")
    paths = set(create_app(plain).openapi()["paths"])
    assert "/demo/token" not in paths and {"/api/transfer", "/ws/ticket"} <= paths
    assert "/demo/token" in create_app(demo).openapi()["paths"]


# --- MongoDB: the application's database and tidings' outbox in one transaction ----------


@pytest.fixture
async def mongo_repo(mongo: MongoEndpoint, mongo_database: str) -> AsyncIterator[Any]:
    from pymongo import AsyncMongoClient

    from examples.second_brain.mongo_repo import MongoRepository

    app_database = f"second_brain_test_{uuid.uuid4().hex[:12]}"
    emitter = Emitter(load_settings(mongodb_database=mongo_database))
    repo = MongoRepository.connect(mongo.url, app_database=app_database, emitter=emitter)
    await repo.seed(DEMO_USERS, DEMO_FAMILY)
    yield repo
    await repo.close()
    cleanup: AsyncMongoClient[Any] = AsyncMongoClient(mongo.url)
    try:
        await cleanup.drop_database(app_database)
        await cleanup.drop_database(mongo_database)
    finally:
        await cleanup.close()


async def _outbox_mongo(mongo: MongoEndpoint, database: str) -> list[dict[str, Any]]:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo.url)
    try:
        return [doc async for doc in client[database][OUTBOX].find({}).sort("created_at", 1)]
    finally:
        await client.close()


@pytest.mark.mongo
async def test_mongo_transfer_commits_or_rolls_back_with_its_notifications(
    mongo_repo: Any, mongo: MongoEndpoint, mongo_database: str
) -> None:
    with pytest.raises(DomainError, match="not enough"):
        await mongo_repo.run(operations.transfer("alice", "bob", 500))
    assert await _outbox_mongo(mongo, mongo_database) == []
    await mongo_repo.run(operations.transfer("alice", "bob", 30))
    balances = await _balances(mongo_repo)
    assert (balances["alice"], balances["bob"]) == (70, 130)
    records = await _outbox_mongo(mongo, mongo_database)
    assert sorted(r["event"] for r in records) == ["sbd_tokens_received", "sbd_tokens_sent"]


@pytest.mark.mongo
async def test_mongo_join_is_resolved_from_the_committed_family(mongo_repo: Any) -> None:
    invited = await mongo_repo.run(operations.invite("alice", "dave"))
    await mongo_repo.run(operations.accept("dave", invited["invitation_id"]))
    resolvers = family_resolvers(repository_family_members(mongo_repo))
    members = await resolvers.resolve(Group("family", "fam-lovelace"))
    assert sorted(members) == ["alice", "carol", "dave"]
    dave = await mongo_repo.view("dave")
    assert dave.family.role == "member" and dave.invitations == ()
