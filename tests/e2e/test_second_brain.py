"""The example host application's operations on both of its stores, without a browser.

Each operation changes domain data and emits in one transaction: a refused operation leaves
no data change and no outbox record. The family group resolves to the members the same
transaction committed. MongoDB runs one operation at a time (see tests/mongo_server.py).
"""

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from api_hooks import Group
from examples.second_brain import operations
from examples.second_brain.app import create_app
from examples.second_brain.demo_data import DEMO_USERS, demo_token
from examples.second_brain.domain import DomainError
from examples.second_brain.ports import Repository
from examples.second_brain.resolvers import app_resolvers, resolvers_for
from foundation.constants import DEMO_JWT_SECRET
from tests.e2e.conftest import outbox_mongo, outbox_sqlite
from tests.mongo_server import MongoEndpoint
from tidings import Settings, Tidings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Motor, via mongoeco


async def _balances(repo: Repository) -> dict[str, int]:
    views = [await repo.view(name) for name in await repo.usernames()]
    return {view.user.username: view.user.balance for view in views if view is not None}


async def test_sqlite_transfer_commits_both_balances_and_both_notifications(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    assert await sqlite_repo.run(operations.transfer("alice", "bob", 30)) == {"new_balance": 70}
    balances = await _balances(sqlite_repo)
    assert (balances["alice"], balances["bob"]) == (70, 130)
    records = outbox_sqlite(sqlite_settings.sqlite_path)
    assert [r.event for r in records] == ["sbd_tokens_sent", "sbd_tokens_received"]
    assert records[1].data == {"from_username": "alice", "amount": 30, "new_balance": 130}


async def test_sqlite_refused_transfer_changes_nothing_and_emits_nothing(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(operations.transfer("alice", "bob", 101))
    assert (refused.value.code, refused.value.field) == ("insufficient_funds", "amount")
    with pytest.raises(DomainError, match="no user") as unknown:
        await sqlite_repo.run(operations.transfer("alice", "zoe", 5))
    assert unknown.value.field == "to"
    assert await _balances(sqlite_repo) == {u.username: u.balance for u in DEMO_USERS}
    assert outbox_sqlite(sqlite_settings.sqlite_path) == []


async def test_sqlite_join_is_resolved_to_every_member_by_the_worker_resolver(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    invited = await sqlite_repo.run(operations.invite("alice", "bob"))
    bob = await sqlite_repo.view("bob")
    assert bob is not None and [i.id for i in bob.invitations] == [invited["invitation_id"]]
    await sqlite_repo.run(operations.accept("bob", str(invited["invitation_id"])))
    records = outbox_sqlite(sqlite_settings.sqlite_path)
    assert [r.event for r in records] == [
        "family_invitation_received",
        "family_invitation_responded",
        "family_member_joined",
    ]
    assert records[2].audience == Group("family", "fam-lovelace")
    members = await resolvers_for(sqlite_settings).resolve(records[2].audience)
    assert sorted(members) == ["alice", "bob", "carol"]
    with pytest.raises(DomainError, match="answered"):
        await sqlite_repo.run(operations.accept("bob", str(invited["invitation_id"])))


async def test_sqlite_only_admins_invite(sqlite_repo: Repository) -> None:
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(operations.invite("carol", "dave"))
    assert refused.value.code == "not_family_admin"


async def test_profile_update_reaches_every_session_of_the_user(
    sqlite_repo: Repository, sqlite_settings: Settings
) -> None:
    await sqlite_repo.run(operations.update_profile("bob", "  Bobby "))
    view = await sqlite_repo.view("bob")
    assert view is not None and view.user.display_name == "Bobby"
    [record] = outbox_sqlite(sqlite_settings.sqlite_path)
    assert (record.event, record.origin_session) == ("profile_updated", None)
    with pytest.raises(DomainError) as refused:
        await sqlite_repo.run(operations.update_profile("bob", "   "))
    assert (refused.value.code, refused.value.field) == ("invalid_display_name", "display_name")


async def test_sqlite_busy_database_answers_503_and_writes_nothing(
    sqlite_settings: Settings, sqlite_notifications: Tidings
) -> None:
    from examples.second_brain.demo_data import seed_demo
    from examples.second_brain.sqlite_repo import SqliteRepository

    repo = SqliteRepository.open(sqlite_notifications, deadline_seconds=0.2)
    await seed_demo(repo)
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
    assert [r.event for r in outbox_sqlite(sqlite_settings.sqlite_path)] == [
        "sbd_tokens_sent",
        "sbd_tokens_received",
    ]


async def test_a_file_from_the_first_version_of_the_example_gets_the_new_columns(
    sqlite_settings: Settings, sqlite_notifications: Tidings
) -> None:
    from examples.second_brain.sqlite_repo import SqliteRepository

    with closing(sqlite3.connect(sqlite_settings.sqlite_path)) as conn, conn:
        conn.execute(
            "CREATE TABLE sb_users (username TEXT PRIMARY KEY, display_name TEXT NOT NULL, "
            "balance INTEGER NOT NULL CHECK (balance >= 0))"
        )
        conn.execute("CREATE TABLE sb_families (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
        conn.execute("INSERT INTO sb_users VALUES ('ada', 'Ada', 5)")
        conn.execute("INSERT INTO sb_families VALUES ('fam', 'Fam')")
    repo = SqliteRepository.open(sqlite_notifications)
    try:
        assert await repo.token_version("ada") == 0
        view = await repo.view("ada")
        assert view is not None and (view.user.two_factor, view.user.theme) == (False, None)
        await repo.run(operations.set_two_factor("ada", True))
        assert (await repo.view("ada")).user.two_factor is True  # type: ignore[union-attr]
    finally:
        await repo.close()


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


@pytest.mark.mongo
async def test_mongo_transfer_commits_or_rolls_back_with_its_notifications(
    mongo_repo: Any, mongo: MongoEndpoint, mongo_database: str
) -> None:
    with pytest.raises(DomainError, match="not enough"):
        await mongo_repo.run(operations.transfer("alice", "bob", 500))
    assert await outbox_mongo(mongo.url, mongo_database) == []
    await mongo_repo.run(operations.transfer("alice", "bob", 30))
    balances = await _balances(mongo_repo)
    assert (balances["alice"], balances["bob"]) == (70, 130)
    records = await outbox_mongo(mongo.url, mongo_database)
    assert sorted(r.event for r in records) == ["sbd_tokens_received", "sbd_tokens_sent"]


@pytest.mark.mongo
async def test_mongo_join_is_resolved_from_the_committed_family(mongo_repo: Any) -> None:
    invited = await mongo_repo.run(operations.invite("alice", "dave"))
    await mongo_repo.run(operations.accept("dave", invited["invitation_id"]))
    members = await app_resolvers(mongo_repo).resolve(Group("family", "fam-lovelace"))
    assert sorted(members) == ["alice", "carol", "dave"]
    dave = await mongo_repo.view("dave")
    assert dave.family.role == "member" and dave.invitations == ()
