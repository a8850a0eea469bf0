"""The store registry: the store URL picks the adapter, the host's session picks its writer."""

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from api_hooks import Emitter, Users, run_in_transaction
from foundation.errors import ConfigurationError, EmitRefused
from foundation.settings import Settings, load_settings
from outbox.stores import adapter_for, adapter_for_session, migrate, open_store


def settings(**values: object) -> Settings:
    return load_settings(**values)


def test_the_embedded_store_is_the_default_in_the_data_dir(tmp_path: Path) -> None:
    chosen = settings(data_dir=tmp_path)
    assert chosen.store_scheme == "sqlite"
    assert chosen.sqlite_path == tmp_path / "tidings.sqlite3"
    assert not chosen.uses_mongodb
    assert adapter_for(chosen).name == "sqlite"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/dir/t.db", Path("relative/dir/t.db")),
        ("sqlite:////absolute/dir/t.db", Path("/absolute/dir/t.db")),
        ("SQLite:///x.db", Path("x.db")),
    ],
)
def test_sqlite_urls_name_relative_and_absolute_files(url: str, path: Path) -> None:
    assert settings(store_url=url).sqlite_path == path


@pytest.mark.parametrize("url", ["mongodb://db.example:27017/?replicaSet=rs0", "mongodb+srv://h"])
def test_mongodb_urls_pick_mongodb_by_either_setting(url: str) -> None:
    for chosen in (settings(store_url=url), settings(mongodb_url=url)):
        assert chosen.uses_mongodb
        assert chosen.resolved_store_url == url
        assert adapter_for(chosen).name == "mongodb"


def test_both_store_settings_at_once_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="TIDINGS_STORE_URL"):
        settings(store_url="sqlite:///a.db", mongodb_url="mongodb://h")


def test_a_store_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="TIDINGS_STORE_URL"):
        settings(store_url="/var/lib/tidings.db")


async def test_an_unknown_scheme_is_refused_by_name_without_the_url() -> None:
    chosen = settings(store_url="postgres://admin:hunter2@db/tidings")
    for step in (open_store, migrate):
        with pytest.raises(ConfigurationError, match="'postgres'") as caught:
            await step(chosen)
        assert "hunter2" not in str(caught.value)


async def test_migrate_and_open_follow_a_sqlite_url(tmp_path: Path) -> None:
    chosen = settings(store_url=f"sqlite:///{tmp_path / 'nested' / 'store.db'}")
    assert await migrate(chosen) > 0
    assert (tmp_path / "nested" / "store.db").exists()
    store = await open_store(chosen)
    try:
        assert await store.head("alice") == 0
    finally:
        await store.close()


def test_a_session_no_store_knows_is_refused() -> None:
    with pytest.raises(EmitRefused) as caught:
        adapter_for_session(object())
    assert caught.value.code == "unsupported_session"


async def test_emit_with_an_unknown_session_writes_nothing() -> None:
    with pytest.raises(EmitRefused, match="PyMongo or Motor session, or a sqlite3"):
        await Emitter().emit(object(), "profile_updated", {}, to=Users(("alice",)))


async def test_run_in_transaction_refuses_a_target_no_store_knows() -> None:
    async def never(_session: object) -> None:
        raise AssertionError("the callback must not run")

    with pytest.raises(TypeError, match="sqlite3 connection"):
        await run_in_transaction(object(), never)


def test_a_sqlite_connection_is_the_embedded_store_s() -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        assert adapter_for_session(conn).name == "sqlite"


def test_a_host_on_the_embedded_store_never_loads_the_mongodb_driver(tmp_path: Path) -> None:
    """The registry imports an adapter on first use: emitting on SQLite needs no pymongo."""
    code = f"""
import asyncio, sys
from api_hooks import Emitter, Users, run_in_transaction
from foundation.settings import load_settings
from outbox.stores import migrate
from outbox.stores.sqlite import connect

settings = load_settings(data_dir={str(tmp_path)!r})
asyncio.run(migrate(settings))
conn = connect(settings.sqlite_path)

async def work(session):
    await Emitter().emit(session, "profile_updated", {{}}, to=Users(("alice",)))

asyncio.run(run_in_transaction(conn, work))
print(conn.execute("SELECT COUNT(*) FROM tidings_outbox").fetchone()[0])
print(sorted(name for name in ("pymongo", "bson", "motor") if name in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split("\n")[:2] == ["1", "[]"]
