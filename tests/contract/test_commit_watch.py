"""The port's commit watch: a store offers one exactly when its adapter says so, and a watch
never misses a commit. SQLite's is also checked against other processes' connections."""

import sqlite3
from pathlib import Path

import pytest

from api_hooks import Emitter
from foundation.settings import load_settings
from outbox.port import OutboxStore
from outbox.stores import adapter_for
from outbox.stores.sqlite import connect
from outbox.stores.sqlite.schema import apply_sqlite
from outbox.stores.sqlite.store import SqliteStore
from tests.conftest import STORES
from tests.contract.builders import T0, for_users, make_record, routes_for


async def test_a_store_offers_a_watch_exactly_when_its_adapter_says_so(
    store: OutboxStore, request: pytest.FixtureRequest
) -> None:
    kind = request.node.callspec.params["store"]
    adapter = adapter_for(STORES[kind].settings(request))
    watch = store.commit_watch()
    try:
        assert (watch is not None) is adapter.watches_commits
    finally:
        if watch is not None:
            watch.close()


async def test_a_watch_reports_every_commit_of_the_store(store: OutboxStore) -> None:
    watch = store.commit_watch()
    if watch is None:
        pytest.skip("this store offers no commit watch: its hosts send every wake-up")
    try:
        watch.changed()  # whatever happened before the test
        await store.add_records([make_record(audience=for_users("alice"))])
        assert watch.changed()
        claimed = await store.claim_batch("router-a", T0, 30.0, 10)
        watch.changed()  # a claim may write (the lease)
        await store.append_to_inbox("router-a", T0, routes_for(claimed))
        assert watch.changed()
    finally:
        watch.close()


async def test_the_sqlite_watch_sees_other_connections_commits_once_and_nothing_else(
    sqlite_path: Path,
) -> None:
    apply_sqlite(sqlite_path)
    store = await SqliteStore.open(sqlite_path)
    watch = store.commit_watch()
    host = connect(sqlite_path)
    try:
        assert not watch.changed()
        host.execute("BEGIN IMMEDIATE")
        await Emitter(load_settings(store_url=f"sqlite:///{sqlite_path}")).emit(
            host, "e", {"n": 1}, to=for_users("bob")
        )
        assert not watch.changed()  # not committed yet
        host.execute("COMMIT")
        assert watch.changed()
        assert not watch.changed()  # reported once
        host.execute("BEGIN IMMEDIATE")
        host.execute("CREATE TABLE host_own (x)")
        host.execute("ROLLBACK")
        assert not watch.changed()  # a rollback commits nothing
    finally:
        host.close()
        watch.close()
        await store.close()


async def test_an_unreadable_version_counts_as_a_change(sqlite_path: Path) -> None:
    apply_sqlite(sqlite_path)
    store = await SqliteStore.open(sqlite_path)
    watch = store.commit_watch()
    await store.close()
    watch._conn.close()  # the watch's connection is gone: every read fails
    with pytest.raises(sqlite3.ProgrammingError):
        watch._conn.execute("SELECT 1")
    assert watch.changed()
